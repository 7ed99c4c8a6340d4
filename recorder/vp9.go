package recorder

import (
	"encoding/binary"

	"github.com/pion/rtp/codecs"
	"github.com/pion/rtp/codecs/vp9"
)

// VP9 with spatial layers (SVC, e.g. Chromium's L3T3_KEY) sends every picture as several frames,
// one per spatial layer, in packets that share the RTP timestamp; the marker is set only on the
// top layer's last packet, so the sample builder hands out a whole picture. Written as it comes
// (the layer frames back to back) a decoder sees one frame and ignores the rest: ffmpeg decoded
// only the base layer (320 px). The recorder therefore writes such a picture as a VP9 superframe
// (VP9 bitstream spec, Annex B): the layer frames followed by an index of their sizes, which is how
// libvpx itself emits SVC and what ffmpeg's decoder splits (vp9_superframe_split).
//
// The sample builder joins the depacketized payloads of a picture and forgets where each
// packet's payload began, so vp9Depacketizer puts a small record header in front of each payload
// (where a frame begins, and the scalability structure's size of the top layer); vp9Format reads
// them back. A picture of one frame (plain VP9, or an SVC picture with one layer) comes out as the
// payloads joined: byte for byte what the recorder wrote before.

const (
	vp9RecHdr   = 5 // flags (1) + payload length (4, little-endian)
	vp9RecBegin = 1 // the payload starts a frame (B)
)

type vp9Depacketizer struct {
	codecs.VP9Packet
}

func (d *vp9Depacketizer) Unmarshal(payload []byte) ([]byte, error) {
	p, err := d.VP9Packet.Unmarshal(payload)
	if err != nil {
		return nil, err
	}
	out := make([]byte, vp9RecHdr, vp9RecHdr+len(p))
	if d.B {
		out[0] = vp9RecBegin
	}
	binary.LittleEndian.PutUint32(out[1:], uint32(len(p)))
	return append(out, p...), nil
}

type vp9Format struct {
	frames [][]byte // scratch: the layer frames of a picture
	refs   vp9Refs  // reference slot sizes, for parsing inter frames' headers
}

// frame joins the records of one picture. A VP9 keyframe has frame_type 0 in its uncompressed
// header, which also carries the size; in an SVC picture the keyframe is the base layer's frame
// and the picture's size is the top layer's (the last frame).
func (v *vp9Format) frame(rec []byte) ([]byte, bool, int, int) {
	v.frames = v.frames[:0]
	var cur []byte
	if len(rec) > 0 && rec[0]&0xc0 == 0x80 {
		// A frame as it is (frame_marker 2), not records from vp9Depacketizer.
		cur, rec = rec, nil
	}
	for len(rec) >= vp9RecHdr {
		flags, n := rec[0], int(binary.LittleEndian.Uint32(rec[1:]))
		rec = rec[vp9RecHdr:]
		n = min(n, len(rec))
		if flags&vp9RecBegin != 0 && len(cur) > 0 {
			v.frames = append(v.frames, cur)
			cur = nil
		}
		cur = append(cur, rec[:n]...)
		rec = rec[n:]
	}
	if len(cur) > 0 {
		v.frames = append(v.frames, cur)
	}
	if len(v.frames) == 0 {
		return nil, false, 0, 0
	}
	// Every frame's header is read to follow the reference slots' sizes; in an SVC picture all
	// frames but the last (the top layer) are hidden, and the size is the last frame's.
	top := [2]int{}
	total := 0
	for i, f := range v.frames {
		if hdr, ok := parseVP9Hdr(f, &v.refs); ok {
			v.refs.update(hdr)
			if i < len(v.frames)-1 && hdr.show {
				v.frames[i] = hideVP9(f, hdr)
			}
			top = [2]int{hdr.w, hdr.h}
		}
		total += len(v.frames[i])
	}
	out := v.frames[0]
	if len(v.frames) > 1 {
		out = vp9Superframe(v.frames, total)
	}
	// The decoder starts at a keyframe: frame_type 0 in the first frame's header.
	var h vp9.Header
	if err := h.Unmarshal(v.frames[0]); err != nil || h.ShowExistingFrame || h.NonKeyFrame {
		return out, false, 0, 0
	}
	if len(v.frames) > 1 && top[0] > 0 {
		return out, true, top[0], top[1]
	}
	return out, true, int(h.Width()), int(h.Height())
}

// vp9Superframe joins frames (at most 8, as the index can count) and appends the superframe
// index: a marker byte 0b110mmfff (mm+1 bytes per size, fff+1 frames), the sizes little-endian,
// the marker byte again. A frame that is itself a superframe, or more than 8 frames, cannot be
// indexed: then the frames are joined without an index (what was written before).
func vp9Superframe(frames [][]byte, total int) []byte {
	out := make([]byte, 0, total+2+4*len(frames))
	for _, f := range frames {
		out = append(out, f...)
	}
	if len(frames) > 8 {
		return out
	}
	largest := 0
	for _, f := range frames {
		if isVP9Superframe(f) {
			return out
		}
		largest = max(largest, len(f))
	}
	mag := 0 // bytes per size - 1
	for largest >= 1<<(8*(mag+1)) {
		mag++
	}
	marker := byte(0xc0 | mag<<3 | (len(frames) - 1))
	out = append(out, marker)
	for _, f := range frames {
		for i := 0; i <= mag; i++ {
			out = append(out, byte(len(f)>>(8*i)))
		}
	}
	return append(out, marker)
}

// isVP9Superframe reports whether f ends in a superframe index.
func isVP9Superframe(f []byte) bool {
	if len(f) == 0 {
		return false
	}
	m := f[len(f)-1]
	if m&0xe0 != 0xc0 {
		return false
	}
	sz := 2 + (int(m>>3&3)+1)*(int(m&7)+1)
	return len(f) >= sz && f[len(f)-sz] == m
}
