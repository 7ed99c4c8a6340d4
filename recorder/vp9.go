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
	vp9RecHdr   = 8 // flags (1) + spatial layer (1) + picture ID (2) + payload length (4), little-endian
	vp9RecBegin = 1 // the payload starts a frame (B)
	vp9RecEnd   = 2 // the payload ends a frame (E)
	vp9RecPID   = 4 // the picture ID is set (I)
	vp9RecSID   = 8 // the spatial layer is set (L)
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
	for _, f := range []struct {
		set  bool
		flag byte
	}{{d.B, vp9RecBegin}, {d.E, vp9RecEnd}, {d.I, vp9RecPID}, {d.L, vp9RecSID}} {
		if f.set {
			out[0] |= f.flag
		}
	}
	out[1] = d.SID
	binary.LittleEndian.PutUint16(out[2:], d.PictureID)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(p)))
	return append(out, p...), nil
}

type vp9Format struct {
	frames [][]byte // scratch: the layer frames of a picture
	refs   vp9Refs  // reference slot sizes, for parsing inter frames' headers
	// partial is set when the last picture was not whole (vp9Whole): it is then no keyframe.
	partial bool
}

// vp9Whole reports whether the records of a picture make whole layer frames: each frame from a
// packet that begins it (B) to one that ends it (E), nothing in between that begins or ends one,
// one picture ID throughout and the spatial layers rising frame by frame. The sample builder only
// sees that the sequence numbers follow each other, and a picture can come out with a layer frame
// cut short (its end lost and the numbers closed up behind it, or a packet put in another's
// place): ffmpeg refuses such a picture ("Invalid data found when processing input"), and as the
// first picture of a chunk it would be the chunk's whole start.
func vp9Whole(rec []byte) bool {
	inFrame, first := false, true
	var pid uint16
	sid := -1
	for len(rec) >= vp9RecHdr {
		flags, n := rec[0], int(binary.LittleEndian.Uint32(rec[4:]))
		if flags&vp9RecPID != 0 {
			p := binary.LittleEndian.Uint16(rec[2:])
			if !first && p != pid {
				return false
			}
			pid = p
		}
		first = false
		begin, end := flags&vp9RecBegin != 0, flags&vp9RecEnd != 0
		if begin == inFrame { // a frame begins inside another, or a packet outside any frame
			return false
		}
		if begin && flags&vp9RecSID != 0 {
			if int(rec[1]) <= sid {
				return false
			}
			sid = int(rec[1])
		}
		inFrame = !end
		rec = rec[vp9RecHdr+min(n, len(rec)-vp9RecHdr):]
	}
	return !inFrame && len(rec) == 0
}

// frame joins the records of one picture. A VP9 keyframe has frame_type 0 in its uncompressed
// header, which also carries the size; in an SVC picture the keyframe is the base layer's frame
// and the picture's size is the top layer's (the last frame).
func (v *vp9Format) frame(rec []byte) ([]byte, bool, int, int) {
	v.frames = v.frames[:0]
	var cur []byte
	v.partial = false
	if len(rec) > 0 && rec[0]&0xc0 == 0x80 {
		// A frame as it is (frame_marker 2), not records from vp9Depacketizer.
		cur, rec = rec, nil
	} else {
		v.partial = !vp9Whole(rec)
	}
	for len(rec) >= vp9RecHdr {
		flags, n := rec[0], int(binary.LittleEndian.Uint32(rec[4:]))
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
	// The decoder starts at a keyframe: frame_type 0 in the first frame's header, and every
	// layer frame of the picture whole.
	var h vp9.Header
	if err := h.Unmarshal(v.frames[0]); err != nil || h.ShowExistingFrame || h.NonKeyFrame || v.partial {
		return out, false, 0, 0
	}
	if len(v.frames) > 1 && top[0] > 0 {
		return out, true, top[0], top[1]
	}
	return out, true, int(h.Width()), int(h.Height())
}

// cutShort reports whether the last picture was not whole: a decoder refuses it.
func (v *vp9Format) cutShort() bool { return v.partial }

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
