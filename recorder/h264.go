package recorder

import "errors"

// H.264 NAL unit types the recorder looks at.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

var startCode = []byte{0, 0, 0, 1}

// h264Format writes Annex-B access units. A keyframe is an access unit with an IDR slice; its
// size comes from the SPS (with the cropping window). Browsers and OBS send SPS and PPS in front
// of every IDR; an encoder that sends them once is handled too: the last ones seen are put in
// front of an IDR that lacks them, so every chunk starts decodable.
type h264Format struct {
	sps, pps []byte // last seen, without start code
	w, h     int    // size of sps
}

func (f *h264Format) frame(au []byte) ([]byte, bool, int, int) {
	var idr, hasSPS, hasPPS bool
	insert := -1 // where missing parameter sets go: after an access unit delimiter
	for _, n := range splitAnnexB(au) {
		if typ := n[0] & 0x1f; typ != naluAUD && insert < 0 {
			insert = cap(au) - cap(n) - 3 // n is a sub-slice of au, after a start code
			for insert > 0 && au[insert-1] == 0 {
				insert--
			}
		}
		switch n[0] & 0x1f {
		case naluIDR:
			idr = true
		case naluSPS:
			hasSPS = true
			if w, h, err := h264Size(n); err == nil {
				f.sps, f.w, f.h = append(f.sps[:0], n...), w, h
			}
		case naluPPS:
			hasPPS = true
			f.pps = append(f.pps[:0], n...)
		}
	}
	if !idr {
		return au, false, 0, 0
	}
	if f.sps == nil || f.pps == nil {
		return au, false, 0, 0 // an IDR the decoder cannot start with
	}
	if !hasSPS || !hasPPS {
		out := make([]byte, 0, len(f.sps)+len(f.pps)+8+len(au))
		out = append(out, au[:max(insert, 0)]...)
		if !hasSPS {
			out = append(append(out, startCode...), f.sps...)
		}
		if !hasPPS {
			out = append(append(out, startCode...), f.pps...)
		}
		au = append(out, au[max(insert, 0):]...)
	}
	return au, true, f.w, f.h
}

// splitAnnexB returns the NAL units of an Annex-B byte stream (without start codes).
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			end := i
			for end > start && b[end-1] == 0 { // trailing zero of a 4-byte start code
				end--
			}
			if end > start {
				out = append(out, b[start:end])
			}
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

var errBadSPS = errors.New("recorder: bad H.264 SPS")

// h264Size parses an SPS NAL unit (header byte included) and returns the displayed picture size:
// macroblocks minus the frame cropping window (ITU-T H.264 §7.3.2.1.1, §7.4.2.1.1).
func h264Size(nal []byte) (w, h int, err error) {
	if len(nal) < 4 || nal[0]&0x1f != naluSPS {
		return 0, 0, errBadSPS
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level_idc
	r.ue()     // seq_parameter_set_id
	chroma := uint64(1)
	separatePlanes := false
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			separatePlanes = r.bit()
		}
		r.ue() // bit_depth_luma_minus8
		r.ue() // bit_depth_chroma_minus8
		r.bit()
		if r.bit() { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.bit() {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := int64(8), int64(8)
					for range size {
						if next != 0 {
							next = (last + r.se() + 256) % 256
						}
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	switch r.ue() {
	case 0:
		r.ue()
	case 1:
		r.bit()
		r.se()
		r.se()
		for range min(r.ue(), 255) {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wMbs := r.ue() + 1
	hMaps := r.ue() + 1
	frameMbsOnly := r.bit()
	if !frameMbsOnly {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	fieldMul := uint64(2)
	if frameMbsOnly {
		fieldMul = 1
	}
	width, height := wMbs*16, fieldMul*hMaps*16
	if r.bit() { // frame_cropping_flag
		left, right, top, bottom := r.ue(), r.ue(), r.ue(), r.ue()
		cx, cy := uint64(1), fieldMul // ChromaArrayType 0 (monochrome or separate planes)
		if chroma != 0 && !separatePlanes {
			subW, subH := uint64(2), uint64(2) // 4:2:0
			switch chroma {
			case 2:
				subH = 1
			case 3:
				subW, subH = 1, 1
			}
			cx, cy = subW, subH*fieldMul
		}
		if (left+right)*cx >= width || (top+bottom)*cy >= height {
			return 0, 0, errBadSPS
		}
		width -= (left + right) * cx
		height -= (top + bottom) * cy
	}
	if r.err || width > 16384 || height > 16384 {
		return 0, 0, errBadSPS
	}
	return int(width), int(height), nil
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// bitReader reads big-endian bit fields; reading past the end sets err and yields zeros.
type bitReader struct {
	b   []byte
	pos int // bit position
	err bool
}

func (r *bitReader) bit() bool { return r.bits(1) == 1 }

func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= len(r.b)*8 {
			r.err = true
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

// ue reads an Exp-Golomb code (ue(v)).
func (r *bitReader) ue() uint64 {
	zeros := 0
	for !r.bit() {
		if r.err || zeros == 32 {
			r.err = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed Exp-Golomb code (se(v)).
func (r *bitReader) se() int64 {
	k := r.ue()
	if k%2 == 1 {
		return int64(k/2 + 1)
	}
	return -int64(k / 2)
}
