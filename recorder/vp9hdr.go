package recorder

// Reading and rewriting a VP9 frame's uncompressed header (VP9 bitstream spec, 6.2), as far as
// needed to hide the lower spatial layers of an SVC picture: libvpx encodes every layer frame with
// show_frame = 1, and a decoder that splits the superframe (ffmpeg) would output every layer.
// Hiding a frame clears show_frame; for an inter frame that makes the header one bit longer
// (intra_only, 0, is present only in hidden frames), so the rest of the uncompressed header is
// shifted and padded to the byte again. That needs the end of the uncompressed header, hence the
// whole parse, including the frame width (for tile_info), which an inter frame may take from a
// reference slot: vp9Refs tracks the slots' sizes.

type vp9Bits struct {
	b   []byte
	pos int // in bits
	bad bool
}

func (r *vp9Bits) f(n int) int {
	v := 0
	for range n {
		if r.pos >= 8*len(r.b) {
			r.bad = true
			return 0
		}
		v = v<<1 | int(r.b[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

// vp9Refs holds the sizes of the eight reference slots.
type vp9Refs [8][2]int

type vp9Hdr struct {
	key, show, showExisting bool
	w, h                    int
	refresh                 int
	showPos                 int // bit position of show_frame
	end                     int // bit position after header_size_in_bytes
}

// parseVP9Hdr reads f's uncompressed header; refs gives inter frames' reference sizes.
func parseVP9Hdr(f []byte, refs *vp9Refs) (vp9Hdr, bool) {
	var h vp9Hdr
	r := &vp9Bits{b: f}
	if r.f(2) != 2 {
		return h, false
	}
	profile := r.f(1)
	profile |= r.f(1) << 1
	if profile == 3 {
		r.f(1)
	}
	if r.f(1) == 1 {
		h.showExisting = true
		return h, !r.bad
	}
	h.key = r.f(1) == 0
	h.showPos = r.pos
	h.show = r.f(1) == 1
	errRes := r.f(1) == 1
	intra := false
	frameSize := func() {
		h.w, h.h = r.f(16)+1, r.f(16)+1
	}
	renderSize := func() {
		if r.f(1) == 1 {
			r.f(32)
		}
	}
	colorConfig := func() bool {
		if profile >= 2 {
			r.f(1)
		}
		if r.f(3) != 7 { // not CS_RGB
			r.f(1)
			if profile == 1 || profile == 3 {
				r.f(3)
			}
		} else if profile == 1 || profile == 3 {
			r.f(1)
		} else {
			return false // RGB needs profile 1 or 3
		}
		return true
	}
	if h.key {
		if r.f(24) != 0x498342 || !colorConfig() {
			return h, false
		}
		frameSize()
		renderSize()
		h.refresh = 0xff
	} else {
		if !h.show {
			intra = r.f(1) == 1
		}
		if !errRes {
			r.f(2)
		}
		if intra {
			if r.f(24) != 0x498342 {
				return h, false
			}
			if profile > 0 && !colorConfig() {
				return h, false
			}
			h.refresh = r.f(8)
			frameSize()
			renderSize()
		} else {
			h.refresh = r.f(8)
			var idx [3]int
			for i := range idx {
				idx[i] = r.f(3)
				r.f(1)
			}
			found := false
			for i := range idx {
				if r.f(1) == 1 {
					h.w, h.h = refs[idx[i]][0], refs[idx[i]][1]
					found = true
					break
				}
			}
			if !found {
				frameSize()
			}
			renderSize()
			r.f(1) // allow_high_precision_mv
			if r.f(1) == 0 {
				r.f(2)
			}
		}
	}
	if h.w <= 0 || h.h <= 0 {
		return h, false
	}
	if !errRes {
		r.f(2) // refresh_frame_context, frame_parallel_decoding_mode
	}
	r.f(2) // frame_context_idx
	// loop_filter_params
	r.f(6 + 3)
	if r.f(1) == 1 && r.f(1) == 1 {
		for range 4 {
			if r.f(1) == 1 {
				r.f(7)
			}
		}
		for range 2 {
			if r.f(1) == 1 {
				r.f(7)
			}
		}
	}
	// quantization_params
	r.f(8)
	for range 3 {
		if r.f(1) == 1 {
			r.f(5)
		}
	}
	// segmentation_params
	if r.f(1) == 1 {
		if r.f(1) == 1 { // update_map
			for range 7 {
				if r.f(1) == 1 {
					r.f(8)
				}
			}
			if r.f(1) == 1 { // temporal_update
				for range 3 {
					if r.f(1) == 1 {
						r.f(8)
					}
				}
			}
		}
		if r.f(1) == 1 { // update_data
			r.f(1)
			bits, signed := [4]int{8, 6, 2, 0}, [4]int{1, 1, 0, 0}
			for range 8 {
				for j := range 4 {
					if r.f(1) == 1 {
						r.f(bits[j] + signed[j])
					}
				}
			}
		}
	}
	// tile_info
	sb64 := ((h.w+7)>>3 + 7) >> 3
	minLog2 := 0
	for 64<<minLog2 < sb64 {
		minLog2++
	}
	maxLog2 := 1
	for sb64>>maxLog2 >= 4 {
		maxLog2++
	}
	maxLog2--
	for l := minLog2; l < maxLog2 && r.f(1) == 1; l++ {
	}
	if r.f(1) == 1 {
		r.f(1)
	}
	if r.f(16) == 0 { // header_size_in_bytes
		return h, false
	}
	h.end = r.pos
	return h, !r.bad && (h.end+7)/8 < len(f)
}

// update records the frame's size in the slots it refreshes.
func (refs *vp9Refs) update(h vp9Hdr) {
	for i := range refs {
		if h.refresh&(0x80>>i) != 0 {
			refs[i] = [2]int{h.w, h.h}
		}
	}
}

// hideVP9 returns a copy of f (whose header h says it is shown) with show_frame = 0.
func hideVP9(f []byte, h vp9Hdr) []byte {
	if h.key {
		out := append([]byte(nil), f...)
		out[h.showPos>>3] &^= 0x80 >> (h.showPos & 7)
		return out
	}
	// Bits up to show_frame, 0, error_resilient_mode, intra_only = 0, the rest of the header, pad.
	in := &vp9Bits{b: f}
	out := make([]byte, 0, len(f)+1)
	var acc byte
	n := 0
	put := func(bit int) {
		acc = acc<<1 | byte(bit)
		if n++; n == 8 {
			out = append(out, acc)
			acc, n = 0, 0
		}
	}
	for in.pos < h.end {
		switch in.pos {
		case h.showPos:
			in.f(1)
			put(0)
		case h.showPos + 1:
			put(in.f(1))
			put(0) // intra_only
		default:
			put(in.f(1))
		}
	}
	for n != 0 {
		put(0) // trailing_bits
	}
	return append(out, f[(h.end+7)/8:]...)
}
