package client

import (
	"testing"
	"time"
)

func TestLoopCursor(t *testing.T) {
	// keyframes at 0 and 3 of 6 frames
	frames := make([]Frame, 6)
	for i := range frames {
		frames[i] = Frame{Data: []byte{byte(i)}, Key: i%3 == 0}
	}
	c := &loopCursor{frames: frames}
	var got []byte
	for _, key := range []bool{false, false, true, false, false, false, true, false, true} {
		got = append(got, c.next(key).Data[0])
	}
	// 0 1 | PLI at 2 → 3 | 4 5 0 | PLI at 1 → 3 | 4 | PLI at 5 → wraps to 0
	want := []byte{0, 1, 3, 4, 5, 0, 3, 4, 0}
	if string(got) != string(want) {
		t.Errorf("frames sent = %v, want %v", got, want)
	}
	if err := (&Loop{Video: frames[1:]}).validate(false); err == nil {
		t.Error("a loop starting on a delta frame is accepted")
	}
	if err := (&Loop{Video: frames}).validate(true); err == nil {
		t.Error("a single-layer loop is accepted for simulcast")
	}
}

func TestStampTrailer(t *testing.T) {
	frame := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}
	at := time.Now().Add(-5 * time.Millisecond)
	s := stamped(frame, at)
	if string(s[:len(frame)]) != string(frame) || len(s) != len(frame)+stampLen {
		t.Fatalf("stamped frame %x does not keep the frame in front", s)
	}
	if got, ok := readStamp(s); !ok || !got.Equal(time.Unix(0, at.UnixNano())) {
		t.Errorf("readStamp = %v, %v; want %v", got, ok, at)
	}
	if d, ok := latencyOf(s); !ok || d < 5*time.Millisecond || d > time.Second {
		t.Errorf("latencyOf = %v, %v", d, ok)
	}
	if _, ok := readStamp(frame); ok {
		t.Error("an unstamped frame has a stamp")
	}
}

func TestPacerCatchesUp(t *testing.T) {
	p := &pacer{t0: time.Now().Add(-100 * time.Millisecond), period: 20 * time.Millisecond}
	if n := p.due(); n != maxBurst {
		t.Errorf("6 packets late: due = %d, want the burst cap %d", n, maxBurst)
	}
	if n := p.due(); n != 0 {
		t.Errorf("right after: due = %d, want 0", n)
	}
}
