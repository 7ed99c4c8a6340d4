package sfu_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/sfu"
)

// svcPkt is what svcViewer keeps of each packet.
type svcPkt struct {
	seq    uint16
	sid    uint8
	pic    uint16
	key    bool // not inter-predicted
	end    bool
	marker bool
}

// svcViewer is a Pion viewer (video only) that records the VP9 layers it receives.
type svcViewer struct {
	sub *sfu.Subscriber
	mu  sync.Mutex
	got []svcPkt
}

func (v *svcViewer) snapshot() []svcPkt {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]svcPkt(nil), v.got...)
}

func newSVCViewer(t *testing.T, s *sfu.SFU, room string, q sfu.Quality) *svcViewer {
	t.Helper()
	pc := loopbackPC(t)
	v := &svcViewer{}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d codecs.VP9Packet
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				d.PDiff = d.PDiff[:0]
				if _, err := d.Unmarshal(p.Payload); err != nil {
					continue
				}
				v.mu.Lock()
				v.got = append(v.got, svcPkt{seq: p.SequenceNumber, sid: d.SID, pic: d.PictureID, key: !d.P, end: d.E, marker: p.Marker})
				v.mu.Unlock()
			}
		}()
	})
	offerSDP := localOffer(t, pc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, answer, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: offerSDP, Quality: q})
	if err != nil {
		t.Fatal(err)
	}
	v.sub = sub
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return v
}

// publishSVC publishes a synthetic three-layer VP9 SVC stream (two packets per layer, 30
// pictures/s, a keyframe every 3 s and on PLI) until the test ends. It returns the number of
// keyframes sent so far.
func publishSVC(t *testing.T, s *sfu.SFU, room string) func() int64 {
	t.Helper()
	pc := loopbackPC(t)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, "video", "svc")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); _ = pc.Close(); wg.Wait() })
	var pli atomic.Bool
	var keys atomic.Int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					pli.Store(true)
				}
			}
		}
	}()
	offerSDP := localOffer(t, pc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, answer, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: offerSDP, Owner: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		seq := uint16(60000)
		for pic := 0; ; pic++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			key := pic%90 == 0 || pli.Swap(false)
			if key {
				keys.Add(1)
			}
			for sid := uint8(0); sid < 3; sid++ {
				for k := 0; k < 2; k++ {
					p := sfu.VP9SVCPacket(seq, uint32(3000*pic), uint16(pic)&0x7fff, sid, 0, key, k == 0, k == 1, sid == 2 && k == 1)
					seq++
					if err := track.WriteRTP(p); err != nil {
						return
					}
				}
			}
		}
	}()
	waitFor(t, 10*time.Second, func() bool { _, ok := s.Room(room); return ok })
	return keys.Load
}

// TestSVCThroughRoom: a Pion publisher sends a three-layer VP9 SVC stream through a room; a
// viewer on low gets S0 only, one on high everything, both with continuous sequence numbers and
// one marker per picture; low switched to high gets the upper layers from a keyframe on (the
// SFU asked for one); medium afterwards drops S2.
func TestSVCThroughRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	before := runtime.NumGoroutine()
	t.Run("svc", func(t *testing.T) {
		s := newSFU(t)
		keys := publishSVC(t, s, "svc")
		low := newSVCViewer(t, s, "svc", sfu.QualityLow)
		high := newSVCViewer(t, s, "svc", sfu.QualityHigh)
		waitFor(t, 15*time.Second, func() bool { return len(low.snapshot()) > 120 && len(high.snapshot()) > 360 })
		for _, c := range []struct {
			v   *svcViewer
			top uint8
		}{{low, 0}, {high, 2}} {
			checkSVC(t, c.v.snapshot(), func(int) uint8 { return c.top })
		}
		if st, ok := low.sub.Layer(); !ok || st.Layer != "low" || len(st.Layers) != 3 {
			t.Fatalf("low viewer's layer state %+v, %v", st, ok)
		}
		// Up: from the next keyframe on (asked for now).
		k0 := keys()
		n0 := len(low.snapshot())
		if err := low.sub.SetQuality(sfu.QualityHigh); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, func() bool { st, _ := low.sub.Layer(); return st.Layer == "high" })
		if keys() <= k0 {
			t.Fatal("no keyframe was requested for the up-switch")
		}
		waitFor(t, 10*time.Second, func() bool { return len(low.snapshot()) > n0+300 })
		// Down to medium: at the next picture.
		if err := low.sub.SetQuality(sfu.QualityMedium); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { st, _ := low.sub.Layer(); return st.Layer == "medium" })
		n1 := len(low.snapshot())
		waitFor(t, 10*time.Second, func() bool { return len(low.snapshot()) > n1+120 })
		pkts := low.snapshot()
		// Pictures before the up-switch's keyframe: S0; from it until medium: all; then S0+S1.
		var upPic, downPic = -1, -1
		for i, p := range pkts {
			if upPic < 0 && p.sid > 0 {
				if !p.key {
					t.Fatalf("first upper-layer packet (seq %d) is not part of a keyframe", p.seq)
				}
				upPic = i
				for upPic > 0 && pkts[upPic-1].pic == p.pic {
					upPic-- // the picture's start
				}
			}
			if upPic >= 0 && downPic < 0 && i > upPic && p.sid == 0 && pkts[i-1].sid == 1 {
				downPic = i - 1 // the picture before ended at S1: medium began with it
				for downPic > 0 && pkts[downPic-1].pic == pkts[i-1].pic {
					downPic--
				}
			}
		}
		if upPic < 0 || downPic < 0 {
			t.Fatalf("no switch seen (up at %d, down at %d)", upPic, downPic)
		}
		checkSVC(t, pkts, func(i int) uint8 {
			switch {
			case i < upPic:
				return 0
			case i < downPic:
				return 2
			}
			return 1
		})
		t.Logf("low viewer: %d packets, upper layers from packet %d (a keyframe), medium from %d", len(pkts), upPic, downPic)
	})
	checkGoroutines(t, before)
}

// checkSVC checks continuous sequence numbers and, picture by picture (whole pictures only), the
// layers S0..top(index of the picture's first packet) with the marker only on the last packet.
func checkSVC(t *testing.T, pkts []svcPkt, top func(i int) uint8) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		if pkts[i].seq != pkts[i-1].seq+1 {
			t.Fatalf("sequence %d after %d", pkts[i].seq, pkts[i-1].seq)
		}
	}
	start := 0
	for start < len(pkts) && pkts[start].sid != 0 {
		start++
	}
	for i := start; i < len(pkts); {
		j := i
		for j < len(pkts) && pkts[j].pic == pkts[i].pic {
			j++
		}
		if j == len(pkts) {
			break // the picture may still be arriving
		}
		want := int(top(i)) + 1
		if j-i != 2*want {
			t.Fatalf("picture %d (packet %d): %d packets, want %d (S0..S%d)", pkts[i].pic, i, j-i, 2*want, want-1)
		}
		for k := i; k < j; k++ {
			if int(pkts[k].sid) != (k-i)/2 || pkts[k].marker != (k == j-1) {
				t.Fatalf("picture %d packet %d: S%d marker %v", pkts[i].pic, k-i, pkts[k].sid, pkts[k].marker)
			}
		}
		i = j
	}
}
