package sfu

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// captureWriter is a viewer socket that marshals each packet like Pion's writer does and keeps
// the last one.
type captureWriter struct {
	buf  []byte
	last rtp.Packet
	keep bool
}

func (c *captureWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(c.buf)
	if err != nil {
		return 0, err
	}
	n += copy(c.buf[n:], payload)
	if c.keep {
		if err := c.last.Unmarshal(append([]byte(nil), c.buf[:n]...)); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }

// vp8Packet builds a VP8 packet with a 15-bit picture ID and TL0PICIDX.
func vp8Packet(seq uint16, ts uint32, pic uint16, tl0 uint8, key bool, size int) *rtp.Packet {
	p := make([]byte, 5+size)
	p[0] = 0x90 // X, S, partition 0
	p[1] = 0xC0 // I, L
	p[2] = 0x80 | byte(pic>>8)
	p[3] = byte(pic)
	p[4] = tl0
	if !key {
		p[5] = 0x01
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 5}, Payload: p}
}

// newTestView is a simulcast viewer of two layers with a capturing socket, outside any room's
// goroutines: writes and NACKs are driven by the caller.
func newTestView(w *captureWriter) (*simView, *upTrack, *upTrack) {
	r := &room{s: &SFU{}, done: make(chan struct{})}
	sim := &simulcast{room: r, order: []string{"q", "f"}, codec: codecVP8, views: map[*simView]struct{}{}, rates: map[*upTrack]float64{}}
	lo := &upTrack{room: r, rid: "q", sim: sim, kind: webrtc.RTPCodecTypeVideo}
	hi := &upTrack{room: r, rid: "f", sim: sim, kind: webrtc.RTPCodecTypeVideo}
	sim.addLayer(lo)
	sim.addLayer(hi)
	lt := newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, webrtc.RTPCodecTypeVideo, "v", "s")
	lt.b.Store(&binding{ssrc: 1, pt: 96, w: w})
	v := &simView{sim: sim, local: lt, codec: codecVP8, clock: 90000, members: map[*upTrack]*downTrack{}, running: true}
	return v, lo, hi
}

// A switch to the other layer happens at its keyframe and continues sequence numbers,
// timestamps, picture IDs and TL0PICIDX; a NACK for a packet sent before the switch is answered
// from the old layer's cache with the old segment's numbering.
func TestSimViewSwitchAndResend(t *testing.T) {
	w := &captureWriter{buf: make([]byte, 1500), keep: true}
	v, lo, hi := newTestView(w)

	v.target = lo
	var sent []rtp.Packet
	write := func(l *upTrack, p *rtp.Packet) bool {
		l.cache.put(p)
		n, err := v.write(l, p)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			sent = append(sent, w.last)
		}
		return n > 0
	}
	if write(lo, vp8Packet(100, 1000, 7000, 3, false, 50)) {
		t.Fatal("a delta frame started the stream")
	}
	for i := uint16(0); i < 5; i++ {
		if !write(lo, vp8Packet(101+i, 1000+3000*uint32(i), 7001+i, 4+uint8(i), i == 0, 50)) {
			t.Fatalf("packet %d of the first layer not written", i)
		}
	}
	// Switch to hi: its delta frames are skipped, lo goes on until hi's keyframe.
	v.target = hi
	if write(hi, vp8Packet(5000, 777000, 30000, 200, false, 80)) {
		t.Fatal("switched at a delta frame")
	}
	if !write(lo, vp8Packet(106, 16000, 7006, 9, false, 50)) {
		t.Fatal("the old layer stopped before the switch")
	}
	if !write(hi, vp8Packet(5001, 780000, 30001, 201, true, 80)) {
		t.Fatal("the keyframe did not switch")
	}
	if write(lo, vp8Packet(107, 19000, 7007, 10, false, 50)) {
		t.Fatal("the old layer is still written after the switch")
	}
	write(hi, vp8Packet(5002, 783000, 30002, 202, false, 80))

	for i := 1; i < len(sent); i++ {
		a, b := sent[i-1], sent[i]
		if b.SequenceNumber != a.SequenceNumber+1 {
			t.Errorf("packet %d: sequence %d after %d", i, b.SequenceNumber, a.SequenceNumber)
		}
		if int32(b.Timestamp-a.Timestamp) < 0 {
			t.Errorf("packet %d: timestamp %d after %d", i, b.Timestamp, a.Timestamp)
		}
		da, _ := parseVP8(a.Payload)
		db, _ := parseVP8(b.Payload)
		if pa, pb := da.picture(a.Payload), db.picture(b.Payload); pb != (pa+1)&0x7fff {
			t.Errorf("packet %d: picture ID %d after %d", i, pb, pa)
		}
		if ta, tb := a.Payload[da.tl0], b.Payload[db.tl0]; tb != ta+1 {
			t.Errorf("packet %d: TL0PICIDX %d after %d", i, tb, ta)
		}
		if b.SSRC != 1 || b.PayloadType != 96 {
			t.Errorf("packet %d: ssrc %d pt %d", i, b.SSRC, b.PayloadType)
		}
	}
	// NACK the last packet of the old layer (sent[5]) and the first of the new one (sent[6]).
	for _, want := range []rtp.Packet{sent[5], sent[6]} {
		w.last = rtp.Packet{}
		if n, err := v.resend(want.SequenceNumber); err != nil || n == 0 {
			t.Fatalf("resend %d: %d, %v", want.SequenceNumber, n, err)
		}
		if w.last.SequenceNumber != want.SequenceNumber || w.last.Timestamp != want.Timestamp || string(w.last.Payload) != string(want.Payload) {
			t.Errorf("resent %d/%d, want %d/%d with the same payload", w.last.SequenceNumber, w.last.Timestamp, want.SequenceNumber, want.Timestamp)
		}
	}
	if n, _ := v.resend(sent[len(sent)-1].SequenceNumber + 1); n != 0 {
		t.Error("resent a packet that was never sent")
	}
}

func TestKeyframeDetection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec codecKind
		p     []byte
		want  bool
	}{
		{"vp8 key", codecVP8, vp8Packet(1, 1, 1, 1, true, 4).Payload, true},
		{"vp8 delta", codecVP8, vp8Packet(1, 1, 1, 1, false, 4).Payload, false},
		{"vp8 key, not first packet", codecVP8, []byte{0x00, 0x00}, false},
		{"vp8 short descriptor key", codecVP8, []byte{0x10, 0x00, 0x00}, true},
		{"h264 stap-a sps", codecH264, []byte{24, 0, 4, 0x67, 1, 2, 3}, true},
		{"h264 fu-a idr start", codecH264, []byte{28, 0x85, 1}, true},
		{"h264 fu-a idr middle", codecH264, []byte{28, 0x05, 1}, false},
		{"h264 non-idr", codecH264, []byte{0x41, 1}, false},
		{"vp9 key start", codecVP9, []byte{0x08, 0}, true},
		{"vp9 inter", codecVP9, []byte{0x48, 0}, false},
		{"av1 new sequence", codecAV1, []byte{0x18, 0}, true},
		{"av1 continuation", codecAV1, []byte{0x88, 0}, false},
		{"empty", codecVP8, nil, false},
		{"truncated descriptor", codecVP8, []byte{0x90}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isKeyframeStart(tc.codec, tc.p); got != tc.want {
				t.Errorf("isKeyframeStart = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkSimulcastWrite is one viewer's per-packet write after a layer switch: sequence number,
// timestamp, picture ID and TL0PICIDX rewritten (a payload copy into the viewer's scratch buffer).
// BenchmarkPlainWrite is the same packet to a viewer of a room without simulcast.
func BenchmarkSimulcastWrite(b *testing.B) { benchSimulcastWrite(b, 0) }

// BenchmarkSimulcastWriteAbsSendTime adds the abs-send-time header extension (browser viewers).
func BenchmarkSimulcastWriteAbsSendTime(b *testing.B) { benchSimulcastWrite(b, 3) }

func benchSimulcastWrite(b *testing.B, absID uint8) {
	w := &captureWriter{buf: make([]byte, 1500)}
	v, lo, hi := newTestView(w)
	v.absID = absID
	v.target = lo
	_, _ = v.write(lo, vp8Packet(100, 1000, 10, 1, true, 1100))
	v.target = hi
	_, _ = v.write(hi, vp8Packet(9000, 50000, 20000, 50, true, 1100))
	if v.cur != hi || v.seg.identity() {
		b.Fatal("no switch")
	}
	p := vp8Packet(9001, 53000, 20001, 51, false, 1100)
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		if _, err := v.write(hi, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainWrite(b *testing.B) {
	w := &captureWriter{buf: make([]byte, 1500)}
	lt := newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, webrtc.RTPCodecTypeVideo, "v", "s")
	lt.b.Store(&binding{ssrc: 1, pt: 96, w: w})
	p := vp8Packet(9001, 53000, 20001, 51, false, 1100)
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		if _, err := lt.write(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRankOf(t *testing.T) {
	for _, tc := range []struct {
		rid   string
		order []string
		want  int
	}{
		{"q", []string{"q", "h", "f"}, 0}, {"h", []string{"q", "h", "f"}, 1}, {"f", []string{"q", "h", "f"}, 2},
		{"l", []string{"l", "m", "h"}, 0}, {"m", []string{"l", "m", "h"}, 1}, {"h", []string{"l", "m", "h"}, 2},
		{"LOW", nil, 0}, {"high", nil, 2}, {"1", nil, 1},
		{"b", []string{"a", "b", "c"}, 1}, {"zz", []string{"a"}, 0},
	} {
		if got := rankOf(tc.rid, tc.order); got != tc.want {
			t.Errorf("rankOf(%q, %v) = %d, want %d", tc.rid, tc.order, got, tc.want)
		}
	}
	for _, tc := range []struct {
		rank, n int
		want    string
	}{{0, 3, "low"}, {1, 3, "medium"}, {2, 3, "high"}, {0, 2, "low"}, {1, 2, "high"}, {2, 2, "high"}, {0, 1, "high"}} {
		if got := nameForRank(tc.rank, tc.n); got != tc.want {
			t.Errorf("nameForRank(%d, %d) = %s, want %s", tc.rank, tc.n, got, tc.want)
		}
	}
}

func TestLayerNames(t *testing.T) {
	for _, tc := range []struct {
		order []string
		want  string
	}{
		{[]string{"q", "h", "f"}, "low medium high"},
		{[]string{"h", "f"}, "low high"},
		{[]string{"f"}, "high"},
		{[]string{"l", "m", "h"}, "low medium high"},
	} {
		r := &room{s: &SFU{}}
		sim := &simulcast{room: r, order: tc.order, rates: map[*upTrack]float64{}}
		var names []string
		for _, rid := range tc.order {
			u := &upTrack{rid: rid, sim: sim}
			sim.addLayer(u)
			names = append(names, sim.layerName(u))
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("layers %v named %q, want %q", tc.order, got, tc.want)
		}
	}
}

// Any payload through a switched viewer's rewrite: no panic, the payload keeps its length, and
// outside the VP8 descriptor's picture ID and TL0PICIDX bytes nothing changes.
func FuzzSimulcastRewrite(f *testing.F) {
	f.Add(vp8Packet(1, 1, 100, 1, false, 20).Payload)
	f.Add([]byte{0x90, 0x80, 0x05})
	f.Add([]byte{0x90, 0x80})
	f.Add([]byte{0x80, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > 1400 {
			return
		}
		w := &captureWriter{buf: make([]byte, 1500), keep: true}
		v, lo, hi := newTestView(w)
		v.target = lo
		_, _ = v.write(lo, vp8Packet(100, 1000, 10, 1, true, 20))
		v.target = hi
		_, _ = v.write(hi, vp8Packet(9000, 50000, 20000, 50, true, 20))
		in := append([]byte(nil), payload...)
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 9001, Timestamp: 53000}, Payload: payload}
		n, err := v.write(hi, p)
		if err != nil || n == 0 {
			t.Fatalf("write: %d, %v", n, err)
		}
		if string(payload) != string(in) {
			t.Fatal("the shared packet was modified")
		}
		out := w.last.Payload
		if len(out) != len(in) {
			t.Fatalf("payload length %d → %d", len(in), len(out))
		}
		d, ok := parseVP8(in)
		for i := range in {
			if ok && (i == d.pic || (d.pic15 && i == d.pic+1) || i == d.tl0) {
				continue
			}
			if in[i] != out[i] {
				t.Fatalf("byte %d changed: %x → %x", i, in[i], out[i])
			}
		}
	})
}

// With abs-send-time negotiated every packet carries it (so browsers can estimate and send REMB),
// including packets of a viewer that never switched.
func TestSimViewAbsSendTime(t *testing.T) {
	w := &captureWriter{buf: make([]byte, 1500), keep: true}
	v, lo, _ := newTestView(w)
	v.absID = 3
	v.target = lo
	p := vp8Packet(100, 1000, 10, 1, true, 30)
	if n, err := v.write(lo, p); err != nil || n == 0 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if ext := w.last.GetExtension(3); len(ext) != 3 {
		t.Errorf("abs-send-time extension = %x", ext)
	}
	if w.last.SequenceNumber != 100 || string(w.last.Payload) != string(p.Payload) || p.Extension {
		t.Errorf("packet changed: seq %d, shared packet extension %v", w.last.SequenceNumber, p.Extension)
	}
}

// Auto with a browser's REMB: a clean REMB probes one layer up after probeBackoff; a REMB still
// catching up with the new rate (rising, and covering the layer below) keeps the viewer there; a
// falling REMB below the layer's need moves it down, and the failed probe doubles the backoff.
func TestAutoChoiceWithREMB(t *testing.T) {
	w := &captureWriter{buf: make([]byte, 1500)}
	v, lo, hi := newTestView(w)
	for _, l := range []*upTrack{lo, hi} {
		l.kind = webrtc.RTPCodecTypeVideo
		l.subs.Store(&[]*downTrack{})
	}
	defer func() { lo.stopAllGroups(); hi.stopAllGroups(); v.sim.room.s.wg.Wait() }()
	v.sim.active = []*upTrack{lo, hi}
	v.sim.rates[lo], v.sim.rates[hi] = 150_000, 1_500_000
	v.bw.est = 300_000
	sec := int64(time.Second)
	now := 100 * sec
	remb := func(bps float64) {
		b := &v.bw
		b.rembFalling = b.rembValid(now) && bps < 0.97*b.remb
		b.remb, b.rembAt = bps, now
		v.evaluate(now)
	}
	v.evaluate(now)
	if v.target != lo {
		t.Fatalf("start: target %v, want the low layer (300 kbps estimate)", v.target)
	}
	v.cur, v.target = lo, nil // its keyframe arrived
	for i := 0; i < 4; i++ {
		now += sec
		remb(400_000)
		if v.target != nil {
			t.Fatalf("probed up after %d s", i+1)
		}
	}
	now += 2 * sec
	remb(420_000)
	if v.target != hi {
		t.Fatalf("no probe up after a clean spell: target %v", v.target)
	}
	v.cur, v.target = hi, nil
	for i := 0; i < 3; i++ {
		now += sec / 4
		remb(450_000 + float64(i)*30_000) // rising, far below the top layer's need
		if v.cur != hi || v.target != nil {
			t.Fatal("moved down while the REMB was still catching up")
		}
	}
	now += sec / 4
	remb(400_000) // falling: congestion
	if v.target != lo {
		t.Fatalf("a falling REMB below the layer's need did not move the viewer down (target %v)", v.target)
	}
	if v.bw.backoff != 2*probeBackoff {
		t.Errorf("backoff after a failed probe = %s, want %s", v.bw.backoff, 2*probeBackoff)
	}
	// Starved: below the lowest layer plus audio → audio only; recovery after upHold.
	v.cur, v.target = lo, nil
	now += sec
	remb(50_000)
	if !v.audioOnly || v.cur != nil {
		t.Fatalf("REMB 50 kbps: audioOnly %v cur %v", v.audioOnly, v.cur)
	}
	now += sec
	remb(2_000_000)
	now += int64(upHold)
	remb(2_000_000)
	if v.target != lo {
		t.Fatalf("no recovery from audio only: target %v", v.target)
	}
}
