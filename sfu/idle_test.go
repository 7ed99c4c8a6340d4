package sfu_test

import (
	"context"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/sfu"
)

// pausablePublisher is a Pion publisher of a VP8 and an Opus track whose sending can be paused
// (a seller who stopped the camera but kept the connection), counting the PLIs it receives.
type pausablePublisher struct {
	pc     *webrtc.PeerConnection
	paused atomic.Bool
	plis   atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newPausablePublisher(t *testing.T, s *sfu.SFU, room string) *pausablePublisher {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pausablePublisher{pc: pc, stop: make(chan struct{})}
	t.Cleanup(func() { close(p.stop); _ = pc.Close(); p.wg.Wait() })
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pub")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, x := range pkts {
					if _, ok := x.(*rtcp.PictureLossIndication); ok {
						p.plis.Add(1)
					}
				}
			}
		}()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, answer, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: pc.LocalDescription().SDP, Owner: "o-" + room})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go func() { // 30 video frames (one packet each, a keyframe every 30) and 50 audio packets a second
		defer p.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var vseq, aseq uint16
		var vts, ats uint32
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			if p.paused.Load() {
				continue
			}
			if i%2 == 0 {
				aseq++
				ats += 960
				_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats}, Payload: make([]byte, 80)})
			}
			if i%3 == 0 {
				vseq++
				vts += 3000
				pl := make([]byte, 600)
				pl[0] = 0x10 // VP8 descriptor: start of partition
				if vseq%30 != 1 {
					pl[1] = 0x01 // inter frame
				}
				_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: vts, Marker: true}, Payload: pl})
			}
		}
	}()
	waitFor(t, 10*time.Second, func() bool { _, ok := s.Room(room); return ok })
	return p
}

var sfuFrame = regexp.MustCompile(`relaycast/sfu\.([^\s(]*\(?[^\s)]*\)?\.?[A-Za-z0-9_]+)\(`)

// sfuGoroutines counts the goroutines running SFU code, by the outermost SFU function on their
// stack (the loop each one runs), and all goroutines.
func sfuGoroutines() (map[string]int, int) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]int{}
	stacks := strings.Split(string(buf), "\n\n")
	for _, g := range stacks {
		if strings.Contains(g, "sfu_test.") || strings.Contains(g, "testing.") {
			continue
		}
		if m := sfuFrame.FindAllStringSubmatch(g, -1); m != nil {
			out[m[len(m)-1][1]]++
		}
	}
	return out, len(stacks)
}

// Rooms whose publisher stopped sending (connection up, nothing arriving) and their viewers
// cause no periodic wake-up in the SFU: no goroutine per room or per viewer runs a timer (every
// SFU goroutine of a room or viewer waits for a packet, an RTCP packet or the end), and the
// one shared sender-report scheduler stops its ticker once nothing was sent for two report
// intervals; it starts again with the next packet and the viewers get reports again.
func TestIdleRoomsWakeNothing(t *testing.T) {
	const rooms, viewersPerRoom = 4, 2
	s := newSFU(t)
	g0 := runtime.NumGoroutine()
	pubs := make([]*pausablePublisher, rooms)
	for i := range pubs {
		pubs[i] = newPausablePublisher(t, s, "idle-"+string(rune('a'+i)))
	}
	time.Sleep(500 * time.Millisecond)
	g1 := runtime.NumGoroutine()
	var srs []<-chan *rtcp.SenderReport
	for i := range pubs {
		for j := 0; j < viewersPerRoom; j++ {
			v, err := watch(t, s, "idle-"+string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			srs = append(srs, senderReports(v))
			waitFor(t, 10*time.Second, func() bool { return v.Stats().AudioPackets > 5 })
		}
	}
	waitFor(t, 5*time.Second, func() bool { return s.Stats().DirectSend == rooms*viewersPerRoom })
	for _, c := range srs { // media flows: every viewer gets sender reports
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("a viewer got no sender report while media flowed")
		}
	}

	eventDriven := map[string]bool{ // blocked reading a track, RTCP or a queue
		"(*upTrack).readLoop": true, "drainRTCP": true, "(*directIn).pionFeed": true, "(*room).addTrack.func1": true, "(*Subscriber).rtcpLoop": true,
		"(*group).run": true, "(*sinkFeed).run": true,
	}
	shared := map[string]bool{"(*SFU).tick": true, "(*srScheduler).run": true}
	// A goroutine passing through SFU code from a Pion callback (a connection-state change) is
	// not a loop of the SFU's: sample again until none is.
	var byFunc map[string]int
	var total int
	for try := 0; ; try++ {
		byFunc, total = sfuGoroutines()
		known := true
		for k := range byFunc {
			known = known && (eventDriven[k] || shared[k])
		}
		if known || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Both ends run in this process: a publisher's goroutines include the test's Pion publisher,
	// a viewer's the client's Pion viewer and its senderReports readers (2).
	t.Logf("goroutines, both ends: %.1f per room (publisher), %.1f per viewer",
		float64(g1-g0)/rooms, float64(total-g1)/(rooms*viewersPerRoom))
	names := make([]string, 0, len(byFunc))
	for k := range byFunc {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t.Logf("%3d × sfu.%s", byFunc[k], k)
	}
	t.Logf("%d goroutines in all (Pion's included) for %d rooms × (1 publisher + %d viewers)", total, rooms, viewersPerRoom)
	// The SFU's own goroutines of a room and its viewers are all event-driven; the timers are
	// the SFU's two shared ones (viewer counts, sender reports), one each whatever the rooms.
	for k, n := range byFunc {
		switch {
		case shared[k]:
			if n != 1 {
				t.Errorf("%d goroutines in sfu.%s, want one per SFU", n, k)
			}
		case !eventDriven[k]:
			t.Errorf("%d goroutines in sfu.%s: not known to be event-driven", n, k)
		}
	}
	// Direct-path viewers read no RTCP in goroutines of the SFU's: Pion's SRTCP session hands it
	// to handleRTCP (rtcpin.go).
	if n := byFunc["(*Subscriber).rtcpLoop"]; n != 0 {
		t.Errorf("%d viewer RTCP loops, want none on the direct path", n)
	}

	for _, p := range pubs {
		p.paused.Store(true)
	}
	waitFor(t, 10*time.Second, func() bool { return sfu.SRStopped(s) })
	w0, st0 := sfu.SRWakeups(s), s.Stats()
	time.Sleep(1500 * time.Millisecond)
	if w, st := sfu.SRWakeups(s), s.Stats(); w != w0 || st.PacketsIn != st0.PacketsIn || st.PacketsOut != st0.PacketsOut {
		t.Errorf("idle rooms: the sender-report scheduler woke %d times in 1.5 s, packets in %d → %d, out %d → %d",
			w-w0, st0.PacketsIn, st.PacketsIn, st0.PacketsOut, st.PacketsOut)
	}
	for _, c := range srs { // drain what came before the pause
		for len(c) > 0 {
			<-c
		}
	}

	pubs[0].paused.Store(false) // one room resumes: its viewers get reports again
	for _, c := range srs[:viewersPerRoom] {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("no sender report after the publisher resumed")
		}
	}
	if sfu.SRStopped(s) || sfu.SRWakeups(s) == w0 {
		t.Error("the sender-report scheduler did not start again")
	}
}
