// Package av1seq reads the frame size out of an AV1 sequence header OBU (AV1 §5.5), the one
// reader the recorder and the live HLS feed share. mediacommon's av1.SequenceHeader refuses
// headers with a decoder model or initial display delays; this walks them.
package av1seq

import (
	"errors"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
)

// ErrBad: the bytes are not a sequence header this reader can walk to the frame size.
var ErrBad = errors.New("av1seq: bad AV1 sequence header")

// maxSize bounds a plausible dimension (the syntax allows 2^16).
const maxSize = 1 << 16

type reader struct {
	b   []byte
	pos int
	bad bool
}

func (r *reader) u(n int) uint64 {
	if r.bad || n == 0 {
		// mediacommon's ReadBits reads the byte at pos even for n == 0: at the end of the
		// buffer that is out of range (a uvlc without leading zeros, FuzzCodecHeaders).
		return 0
	}
	if n > 64 {
		r.bad = true
		return 0
	}
	v, err := bits.ReadBits(r.b, &r.pos, n)
	r.bad = err != nil
	return v
}

func (r *reader) flag() bool { return r.u(1) == 1 }

// uvlc reads a variable-length unsigned value (AV1 §4.10.3).
func (r *reader) uvlc() {
	zeros := 0
	for !r.flag() {
		if r.bad || zeros == 32 {
			r.bad = true
			return
		}
		zeros++
	}
	r.u(zeros)
}

// Size parses a sequence header OBU's payload (without the OBU header and size field) up to
// max_frame_height_minus_1: the largest frame size of the sequence, and whether the header is
// the reduced still-picture one (its frames are all key frames).
func Size(p []byte) (w, h int, reduced bool, err error) {
	r := &reader{b: p}
	r.u(3)   // seq_profile
	r.flag() // still_picture
	reduced = r.flag()
	if reduced {
		r.u(5) // seq_level_idx[0]
	} else {
		decoderModel, delayLen := false, 0
		if r.flag() { // timing_info_present_flag
			r.u(32)       // num_units_in_display_tick
			r.u(32)       // time_scale
			if r.flag() { // equal_picture_interval
				r.uvlc() // num_ticks_per_picture_minus_1
			}
			if decoderModel = r.flag(); decoderModel {
				delayLen = int(r.u(5)) + 1 // buffer_delay_length_minus_1
				r.u(32)                    // num_units_in_decoding_tick
				r.u(10)                    // buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
			}
		}
		initialDelay := r.flag()
		points := int(r.u(5)) + 1
		for range points {
			r.u(12)         // operating_point_idc
			if r.u(5) > 7 { // seq_level_idx
				r.flag() // seq_tier
			}
			if decoderModel && r.flag() {
				r.u(2*delayLen + 1) // decoder_buffer_delay, encoder_buffer_delay, low_delay_mode_flag
			}
			if initialDelay && r.flag() {
				r.u(4) // initial_display_delay_minus_1
			}
		}
	}
	wBits, hBits := int(r.u(4))+1, int(r.u(4))+1
	w, h = int(r.u(wBits))+1, int(r.u(hBits))+1
	if r.bad || w > maxSize || h > maxSize {
		return 0, 0, false, ErrBad
	}
	return w, h, reduced, nil
}
