package recorder

import (
	"github.com/pion/rtp/codecs/av1/obu"

	"github.com/relaycast/relaycast/internal/av1seq"
)

// temporalDelimiter is an empty OBU_TEMPORAL_DELIMITER with a size field. RTP senders drop it
// (AV1 RTP §5); the IVF/Annex-B-less "low overhead" format wants one at the start of every
// temporal unit, so the recorder puts it back.
var temporalDelimiter = []byte{0x12, 0x00}

// av1Format writes temporal units. A keyframe is a temporal unit whose first frame has
// frame_type KEY_FRAME; its size is the sequence header's max_frame_width/height (libwebrtc and
// the usual encoders send a new sequence header with the keyframe of a new size). The last
// sequence header is put in front of a keyframe that comes without one.
type av1Format struct {
	seq     []byte // last sequence header OBU (with size field)
	reduced bool   // its reduced_still_picture_header
	w, h    int
}

func (f *av1Format) frame(tu []byte) ([]byte, bool, int, int) {
	key, hasSeq, sawFrame, hasTD := false, false, false, false
	for off := 0; off < len(tu); {
		hdr, err := obu.ParseOBUHeader(tu[off:])
		if err != nil {
			break
		}
		start := off + hdr.Size()
		size := len(tu) - start
		if hdr.HasSizeField {
			v, n, err := obu.ReadLeb128(tu[start:])
			if err != nil || int(v) > len(tu)-start-int(n) {
				break
			}
			start += int(n)
			size = int(v)
		}
		end := start + size
		switch hdr.Type {
		case obu.OBUTemporalDelimiter:
			hasTD = off == 0
		case obu.OBUSequenceHeader:
			if w, h, reduced, err := av1SeqSize(tu[start:end]); err == nil {
				hasSeq = true
				f.w, f.h, f.reduced = w, h, reduced
				// Stored with a size field, the form that can be put in front of a temporal unit.
				hs := hdr.Size()
				f.seq = append(append(f.seq[:0], tu[off]|0x02), tu[off+1:off+hs]...)
				f.seq = append(append(f.seq, obu.WriteToLeb128(uint(size))...), tu[start:end]...)
			}
		case obu.OBUFrame, obu.OBUFrameHeader:
			if !sawFrame && f.seq != nil {
				key = av1KeyFrame(tu[start:end], f.reduced)
			}
			sawFrame = true
		}
		off = end
	}
	out := make([]byte, 0, len(tu)+len(temporalDelimiter)+len(f.seq))
	if !hasTD {
		out = append(out, temporalDelimiter...)
	}
	if key && !hasSeq {
		if hasTD {
			out = append(out, tu[:len(temporalDelimiter)]...)
			tu = tu[len(temporalDelimiter):]
		}
		out = append(out, f.seq...)
	}
	out = append(out, tu...)
	if !key {
		return out, false, 0, 0
	}
	return out, true, f.w, f.h
}

// av1KeyFrame reads the start of an uncompressed frame header (AV1 §5.9.2).
func av1KeyFrame(p []byte, reduced bool) bool {
	if reduced {
		return true
	}
	r := &bitReader{b: p}
	if r.bit() { // show_existing_frame
		return false
	}
	return r.bits(2) == 0 && !r.err // frame_type KEY_FRAME
}

// errBadSeqHeader: a sequence header the shared reader (internal/av1seq) cannot walk.
var errBadSeqHeader = av1seq.ErrBad

// av1SeqSize parses a sequence header OBU payload (AV1 §5.5) up to max_frame_height_minus_1.
func av1SeqSize(p []byte) (w, h int, reduced bool, err error) { return av1seq.Size(p) }
