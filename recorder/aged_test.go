package recorder

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// vp8Key is a one-packet VP8 frame: payload descriptor S=1, frame tag (P=0 for a keyframe),
// the keyframe start code and a 64x48 size.
func vp8Frame1(key bool) []byte {
	tag := byte(0x51)
	if key {
		tag = 0x50
	}
	return append([]byte{0x10, tag, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0}, make([]byte, 100)...)
}

// Packets the SFU replays from its cache (sfu.AgedSink) are put on the timeline at their
// arrival, not at the replay: a keyframe that arrived 1 s before the recorder got it starts the
// recording 1 s earlier, and the live packets after it keep their own arrival times.
func TestAgedPacketsStartTheRecordingEarlier(t *testing.T) {
	var h hookLog
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: t0}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	const frames = 30 // 1 s at 30 fps, replayed at t0
	seq := uint16(100)
	write := func(i int, age time.Duration) {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: 5000 + uint32(i)*3000, Marker: true, SSRC: 1},
			Payload: vp8Frame1(i == 0)}
		seq++
		if err := s.WriteAgedRTP(videoInfo, p, age); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < frames; i++ {
		write(i, time.Second-time.Duration(i)*time.Second/30)
	}
	for i := frames; i < 3*frames; i++ { // live, at their arrival
		clk.set(t0.Add(time.Duration(i-frames) * time.Second / 30))
		write(i, 0)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.started) != 1 || !h.started[0].StartedAt.Equal(t0.Add(-time.Second)) {
		t.Fatalf("recording started %v, want the replayed keyframe's arrival %v", h.started, t0.Add(-time.Second))
	}
	if len(h.chunks) == 0 || h.chunks[0].Video == nil || h.chunks[0].Video.Offset != 0 || h.chunks[0].Start != 0 {
		t.Fatalf("first chunk %+v: want video from 0", h.chunks)
	}
	if end := h.ended[0].End; end < 2.9 || end > 3.1 {
		t.Errorf("recording ends at %.3f s, want the 3 s of frames on the timeline", end)
	}
}
