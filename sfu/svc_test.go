package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// vp9SVCPacket builds a VP9 packet in non-flexible mode with a 15-bit picture ID, layer indices
// and TL0PICIDX; the first packet of a keyframe's S0 carries a scalability structure for three
// layers (320, 640 and 1280 px wide).
func vp9SVCPacket(seq uint16, ts uint32, pic uint16, sid, tid uint8, key, begin, end, marker bool) *rtp.Packet {
	b0 := byte(0xA0) // I, L
	if !key {
		b0 |= 0x40 // P
	}
	if begin {
		b0 |= 0x08
	}
	if end {
		b0 |= 0x04
	}
	ss := key && begin && sid == 0
	if ss {
		b0 |= 0x02 // V
	}
	d := byte(0)
	if key && sid > 0 {
		d = 1 // inter-layer dependency (keyframes only: L3T3_KEY)
	}
	p := []byte{b0, 0x80 | byte(pic>>8), byte(pic), tid<<5 | sid<<1 | d, byte(pic)}
	if ss {
		p = append(p, 2<<5|0x10) // N_S = 2 (three layers), Y
		for _, w := range []uint16{320, 640, 1280} {
			h := w * 9 / 16
			p = append(p, byte(w>>8), byte(w), byte(h>>8), byte(h))
		}
	}
	p = append(p, make([]byte, 40)...) // the "VP9 frame"
	p[len(p)-1] = byte(seq)
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: seq, Timestamp: ts, SSRC: 9, Marker: marker}, Payload: p}
}

// svcStream is a synthetic L3T1 stream: each picture has three spatial layers of two packets;
// pictures listed in keys are keyframes. The marker is on the last packet of S2.
func svcStream(firstSeq uint16, pictures int, keys map[int]bool) []*rtp.Packet {
	var out []*rtp.Packet
	seq := firstSeq
	for i := 0; i < pictures; i++ {
		for sid := uint8(0); sid < 3; sid++ {
			for k := 0; k < 2; k++ {
				out = append(out, vp9SVCPacket(seq, uint32(1000+3000*i), uint16(500+i), sid, 0, keys[i], k == 0, k == 1, sid == 2 && k == 1))
				seq++
			}
		}
	}
	return out
}

func newSVCTestView(w *captureWriter) (*simView, *upTrack) {
	r := &room{s: &SFU{}, done: make(chan struct{})}
	up := &upTrack{room: r, kind: webrtc.RTPCodecTypeVideo}
	lt := newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, webrtc.RTPCodecTypeVideo, "v", "s")
	lt.b.Store(&binding{ssrc: 1, pt: 98, w: w})
	sub := &Subscriber{room: r}
	v := &simView{sub: sub, local: lt, codec: codecVP9, clock: 90000, running: true, pref: QualityAuto,
		svc: newSVCFilter(up, QualityAuto)}
	return v, up
}

type svcOut struct {
	seq    uint16
	in     uint16 // the incoming sequence number (the payload's last byte)
	sid    uint8
	pic    int
	marker bool
}

// TestSVCLayerFiltering feeds a three-layer VP9 SVC stream to viewers on each quality and checks
// the packets forwarded, the outgoing sequence numbers and the markers; then switches one viewer
// down (at the next picture) and up (only at a keyframe), and answers a NACK across dropped packets.
func TestSVCLayerFiltering(t *testing.T) {
	decode := func(t *testing.T, p rtp.Packet) svcOut {
		var d codecs.VP9Packet
		if _, err := d.Unmarshal(p.Payload); err != nil {
			t.Fatal(err)
		}
		return svcOut{seq: p.SequenceNumber, in: uint16(p.Payload[len(p.Payload)-1]), sid: d.SID, pic: int(d.PictureID) - 500, marker: p.Marker}
	}
	run := func(t *testing.T, v *simView, up *upTrack, w *captureWriter, pkts []*rtp.Packet, between func(i int)) []svcOut {
		var got []svcOut
		for i, p := range pkts {
			if between != nil {
				between(i)
			}
			up.cache.put(p)
			n, err := v.write(up, p)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				got = append(got, decode(t, w.last))
			}
		}
		return got
	}
	// check: continuous sequence numbers; per picture, exactly the layers up to top(pic) and one
	// marker, on the last packet of the top layer.
	check := func(t *testing.T, got []svcOut, first uint16, top func(pic int) uint8, pictures int) {
		t.Helper()
		for i, o := range got {
			if o.seq != first+uint16(i) {
				t.Fatalf("packet %d: seq %d, want %d (%v)", i, o.seq, first+uint16(i), got)
			}
		}
		byPic := map[int][]svcOut{}
		for _, o := range got {
			byPic[o.pic] = append(byPic[o.pic], o)
		}
		for pic := 0; pic < pictures; pic++ {
			ps := byPic[pic]
			want := int(top(pic)) + 1
			if len(ps) != 2*want {
				t.Fatalf("picture %d: %d packets forwarded, want %d (layers S0..S%d): %v", pic, len(ps), 2*want, want-1, ps)
			}
			for i, o := range ps {
				if int(o.sid) != i/2 {
					t.Fatalf("picture %d packet %d: S%d, want S%d", pic, i, o.sid, i/2)
				}
				if o.marker != (i == len(ps)-1) {
					t.Fatalf("picture %d packet %d (S%d): marker %v", pic, i, o.sid, o.marker)
				}
			}
		}
	}

	for _, c := range []struct {
		q   Quality
		top uint8
	}{{QualityAuto, 2}, {QualityHigh, 2}, {QualityMedium, 1}, {QualityLow, 0}} {
		t.Run(string(c.q), func(t *testing.T) {
			w := &captureWriter{buf: make([]byte, 1500), keep: true}
			v, up := newSVCTestView(w)
			var states []LayerState
			v.onLayer = func(st LayerState) { states = append(states, st) }
			v.setQuality(c.q)
			pkts := svcStream(65530, 8, map[int]bool{0: true}) // wraps the sequence space
			got := run(t, v, up, w, pkts, nil)
			check(t, got, 65530, func(int) uint8 { return c.top }, 8)
			if st := v.State(); fmt.Sprint(st.Layers) != "[low medium high]" || st.Layer != svcLayerName(v.effectiveTop(c.top), 3) {
				t.Fatalf("state %+v", st)
			}
			if len(states) == 0 || fmt.Sprint(states[len(states)-1].Layers) != "[low medium high]" {
				t.Fatalf("layer reports %+v", states)
			}
		})
	}

	t.Run("switch", func(t *testing.T) {
		w := &captureWriter{buf: make([]byte, 1500), keep: true}
		v, up := newSVCTestView(w)
		up.room.s.cfg.KeyframeInterval = 0
		// Pictures 0 and 6 are keyframes. High until the middle of picture 2 (packet 2*6+3), then
		// low: picture 2 is still whole, 3.. are S0 only. Back to high during picture 4: pictures
		// 4 and 5 stay S0 (no keyframe), 6.. are whole again, and a keyframe was asked for.
		pkts := svcStream(100, 9, map[int]bool{0: true, 6: true})
		got := run(t, v, up, w, pkts, func(i int) {
			switch i {
			case 2*6 + 3:
				v.setQuality(QualityLow)
			case 4*6 + 1:
				v.setQuality(QualityHigh)
			}
		})
		check(t, got, 100, func(pic int) uint8 {
			if pic >= 3 && pic < 6 {
				return 0
			}
			return 2
		}, 9)
		up.kfMu.Lock()
		asked := !up.kfLast.IsZero()
		up.kfMu.Unlock()
		if !asked {
			t.Fatal("no keyframe requested for the up-switch")
		}
		// A NACK for an outgoing number after the dropped layers is answered with the packet that
		// was sent under it: same incoming packet, same marker.
		for _, o := range got {
			if n, err := v.resend(o.seq); err != nil || n == 0 {
				t.Fatalf("resend %d: %d, %v", o.seq, n, err)
			}
			if r := decode(t, w.last); r != o {
				t.Fatalf("resent %+v, sent %+v", r, o)
			}
		}
		if n, _ := v.resend(got[len(got)-1].seq + 1); n != 0 {
			t.Fatal("resent a number never sent")
		}
	})

	t.Run("late packet", func(t *testing.T) {
		// S0 packet 1 of picture 1 arrives after the rest of the picture: on low, it goes out in
		// the place kept for it; a late S2 packet is dropped.
		w := &captureWriter{buf: make([]byte, 1500), keep: true}
		v, up := newSVCTestView(w)
		v.setQuality(QualityLow)
		pkts := svcStream(0, 3, map[int]bool{0: true})
		p1 := pkts[7] // picture 1, S0, second packet
		late2 := pkts[11]
		order := append([]*rtp.Packet{}, pkts[:7]...)
		order = append(order, pkts[8:11]...)
		order = append(order, pkts[12:]...)
		order = append(order, p1, late2)
		got := run(t, v, up, w, order, nil)
		// Picture 0: S0 as 0, 1; picture 1: S0 as 2 and (late) 3; the gap left by the missing S2
		// packet keeps number 4 and stays a hole when it turns out to be a dropped layer; picture 2
		// continues at 5.
		var seqs []string
		for _, o := range got {
			seqs = append(seqs, fmt.Sprintf("%d<-%d", o.seq, o.in))
		}
		if s := fmt.Sprint(seqs); s != "[0<-0 1<-1 2<-6 5<-12 6<-13 3<-7]" {
			t.Fatalf("sent %s", s)
		}
	})
}

// The publisher's numbering jumps by more than the ring (forward, then back): the outgoing
// numbers go on from the last one sent.
func TestSVCSequenceJump(t *testing.T) {
	w := &captureWriter{buf: make([]byte, 1500), keep: true}
	v, up := newSVCTestView(w)
	v.setQuality(QualityMedium)
	var seqs []uint16
	for _, first := range []uint16{100, 5100, 50636} {
		for _, p := range svcStream(first, 2, map[int]bool{0: true}) {
			if n, _ := v.write(up, p); n > 0 {
				seqs = append(seqs, w.last.SequenceNumber)
			}
		}
	}
	if len(seqs) != 3*2*4 {
		t.Fatalf("%d packets sent, want 24", len(seqs))
	}
	for i := range seqs {
		if seqs[i] != 100+uint16(i) {
			t.Fatalf("sent %v", seqs)
		}
	}
}

// effectiveTop is the filter's layer for a viewer's top layer (tests).
func (v *simView) effectiveTop(l uint8) uint8 { return v.svc.effective(l) }

// A VP9 stream without layer indices passes unchanged: same numbers, same markers, the shared
// packet itself (no copy), and no layer state to report.
func TestSVCPlainVP9Unchanged(t *testing.T) {
	w := &captureWriter{buf: make([]byte, 1500)}
	v, up := newSVCTestView(w)
	var d codecs.VP9Payloader
	seq := uint16(10)
	for i := 0; i < 20; i++ {
		frame := make([]byte, 3000)
		for j, pl := range d.Payload(1200, frame) {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i * 3000), Marker: j == 2}, Payload: pl}
			seq++
			w.keep = true
			if n, err := v.write(up, p); err != nil || n == 0 {
				t.Fatalf("packet %d: %d, %v", seq, n, err)
			}
			if w.last.SequenceNumber != p.SequenceNumber || w.last.Marker != p.Marker {
				t.Fatalf("rewritten: %v -> %v", p.Header, w.last.Header)
			}
		}
	}
	if st := v.State(); len(st.Layers) != 0 || st.Layer != "" {
		t.Fatalf("state %+v for a stream without layers", st)
	}
	p := vp9SVCPacket(seq, 0, 1, 0, 0, false, true, true, true)
	p.Payload[0] &^= 0x20 // no L
	allocs := testing.AllocsPerRun(100, func() {
		p.SequenceNumber++
		_, _ = v.write(up, p)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

// BenchmarkSVCWrite is an SVC viewer on medium: a 1.1 KB S1 packet forwarded with its sequence
// number rewritten (S2 packets were dropped before it).
func BenchmarkSVCWrite(b *testing.B) {
	w := &captureWriter{buf: make([]byte, 1500)}
	v, up := newSVCTestView(w)
	v.setQuality(QualityMedium)
	for _, p := range svcStream(100, 2, map[int]bool{0: true}) {
		_, _ = v.write(up, p)
	}
	p := vp9SVCPacket(200, 9000, 9, 1, 0, false, false, false, false)
	p.Payload = append(p.Payload, make([]byte, 1100-len(p.Payload))...)
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		if n, err := v.write(up, p); err != nil || n == 0 {
			b.Fatal(n, err)
		}
	}
}

// VP9SVCPacket builds a VP9 SVC packet for the external tests (svc_room_test.go).
var VP9SVCPacket = vp9SVCPacket
