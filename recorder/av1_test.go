package recorder

import "testing"

// bitWriter builds bitstreams for parser tests.
type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) put(v uint64, bits int) *bitWriter {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (7 - w.n%8)
		w.n++
	}
	return w
}

// TestAV1SeqSize: the sequence header parser walks the optional parts (timing info, decoder
// model, several operating points) to the maximum frame size; the reduced header is short.
func TestAV1SeqSize(t *testing.T) {
	full := (&bitWriter{}).
		put(0, 3).put(0, 1).put(0, 1).                                                                  // profile, still_picture, reduced_still_picture_header
		put(1, 1).put(1001, 32).put(60000, 32).put(1, 1).put(1, 1).                                     // timing info, equal_picture_interval, uvlc 0
		put(1, 1).put(4, 5).put(1, 32).put(9, 5).put(9, 5).                                             // decoder model info (delays of 5 bits)
		put(1, 1).put(1, 5).                                                                            // initial_display_delay_present, 2 operating points
		put(0x101, 12).put(8, 5).put(1, 1).put(1, 1).put(3, 5).put(7, 5).put(1, 1).put(1, 1).put(2, 4). // op 0: tier, decoder model, display delay
		put(0, 12).put(4, 5).put(0, 1).put(0, 1).                                                       // op 1: level 4, no decoder model, no display delay
		put(10, 4).put(9, 4).put(1279, 11).put(719, 10).b
	if w, h, reduced, err := av1SeqSize(full); err != nil || w != 1280 || h != 720 || reduced {
		t.Errorf("full header: %dx%d reduced %v %v", w, h, reduced, err)
	}
	still := (&bitWriter{}).put(0, 3).put(1, 1).put(1, 1).put(5, 5).put(7, 4).put(7, 4).put(199, 8).put(99, 8).b
	if w, h, reduced, err := av1SeqSize(still); err != nil || w != 200 || h != 100 || !reduced {
		t.Errorf("reduced header: %dx%d reduced %v %v", w, h, reduced, err)
	}
	if _, _, _, err := av1SeqSize(full[:6]); err == nil {
		t.Error("truncated header parsed")
	}
	// Frame headers: show_existing_frame, then frame_type (0 = KEY_FRAME).
	for _, tt := range []struct {
		b       byte
		reduced bool
		key     bool
	}{{0x00, false, true}, {0x20, false, false}, {0x80, false, false}, {0x20, true, true}} {
		if got := av1KeyFrame([]byte{tt.b}, tt.reduced); got != tt.key {
			t.Errorf("frame header %08b reduced %v: key %v", tt.b, tt.reduced, got)
		}
	}
}
