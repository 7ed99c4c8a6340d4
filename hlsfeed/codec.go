package hlsfeed

import (
	"encoding/binary"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/av1seq"
)

// videoCodec is a video codec the feed takes: H.264 is copied (and fed to the ladder), the
// others are transcoded. All go to ffmpeg as IVF (fourcc), whose demuxer reads each of them.
type videoCodec struct {
	mime   string
	fourcc string
	copy   bool // H.264: the top rendition is the publisher's own bitstream
	depack func() rtp.Depacketizer
	// key reports whether a frame (as the depacketizer assembles it) starts a decodable
	// picture and, when the frame carries it, its size (0 when unknown).
	key func(frame []byte) (key bool, w, h int)
}

var videoCodecs = []videoCodec{
	{webrtc.MimeTypeH264, "H264", true, func() rtp.Depacketizer { return &h264Depacketizer{} }, nil},
	{webrtc.MimeTypeVP8, "VP80", false, func() rtp.Depacketizer { return &codecs.VP8Packet{} }, vp8Key},
	{webrtc.MimeTypeVP9, "VP90", false, func() rtp.Depacketizer { return &codecs.VP9Packet{} }, vp9Key},
	{webrtc.MimeTypeAV1, "AV01", false, func() rtp.Depacketizer { return &codecs.AV1Depacketizer{} }, av1Key},
}

func videoCodecFor(mime string) (videoCodec, bool) {
	for _, c := range videoCodecs {
		if strings.EqualFold(c.mime, mime) {
			return c, true
		}
	}
	return videoCodec{}, false
}

// h264Depacketizer is codecs.H264Packet (Annex-B out) that forgets a fragmented NAL unit whose
// end was lost instead of gluing it to the next one.
type h264Depacketizer struct{ codecs.H264Packet }

func (d *h264Depacketizer) Unmarshal(payload []byte) ([]byte, error) {
	if len(payload) >= 2 && payload[0]&0x1f == 28 && payload[1]&0x80 != 0 {
		d.H264Packet = codecs.H264Packet{}
	}
	return d.H264Packet.Unmarshal(payload)
}

// vp8Key: a VP8 keyframe has bit 0 of the first byte clear and the start code 9d 01 2a.
func vp8Key(f []byte) (bool, int, int) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return false, 0, 0
	}
	return true, int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
}

// vp9Key reads a frame's uncompressed header (mediacommon's vp9.Header: frame marker,
// profile, show_existing_frame, frame_type, and for a key frame the profile-dependent
// color_config and the frame size). A superframe starts with its first frame, whose header
// this is (with spatial SVC the base layer's: the sink sees the size of the lowest layer).
func vp9Key(f []byte) (bool, int, int) {
	var h vp9.Header
	if err := h.Unmarshal(f); err != nil || h.ShowExistingFrame || h.NonKeyFrame {
		return false, 0, 0
	}
	return true, h.Width(), h.Height()
}

// av1Key: a temporal unit (OBUs with size fields) that carries a sequence header; senders put
// one in front of every key frame. The size is the header's max_frame_width/height.
func av1Key(f []byte) (bool, int, int) {
	for len(f) > 0 {
		hdr := f[0]
		typ, ext, sized := hdr>>3&0xf, hdr&4 != 0, hdr&2 != 0
		n := 1
		if ext {
			n++
		}
		if !sized || n > len(f) {
			return typ == 1, 0, 0
		}
		size, l := leb128(f[n:])
		if l == 0 || uint64(len(f)-n-l) < size {
			return typ == 1, 0, 0
		}
		if typ == 1 {
			w, h, _, err := av1seq.Size(f[n+l : n+l+int(size)])
			if err != nil {
				return true, 0, 0
			}
			return true, w, h
		}
		f = f[n+l+int(size):]
	}
	return false, 0, 0
}

func leb128(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// H.264 NAL unit types the feed looks at.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

// splitAnnexB returns the NAL units of an Annex-B stream, without start codes (sub-slices of b).
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			end := i
			for end > start && b[end-1] == 0 {
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

// annexB joins NAL units with 4-byte start codes.
func annexB(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range nalus {
		out = append(append(out, 0, 0, 0, 1), u...)
	}
	return out
}

// h264Params keeps the last SPS and PPS so an IDR that comes without them still starts a
// decodable segment, and drops access unit delimiters (fMP4 carries none).
type h264Params struct {
	sps, pps []byte
	w, h     int
}

// prepare returns the access unit to write (the parameter sets in front of an IDR), whether
// it is an IDR the decoder can start with, and whether its SPS differs from the last one.
func (p *h264Params) prepare(nalus [][]byte) (out [][]byte, idr, newSPS bool) {
	var hasSPS, hasPPS bool
	out = make([][]byte, 0, len(nalus)+2)
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case naluAUD:
			continue
		case naluIDR:
			idr = true
		case naluSPS:
			hasSPS = true
			if string(n) != string(p.sps) {
				var sps h264.SPS
				if err := sps.Unmarshal(n); err == nil {
					newSPS = p.sps != nil
					p.sps, p.w, p.h = append([]byte(nil), n...), sps.Width(), sps.Height()
				}
			}
		case naluPPS:
			hasPPS = true
			p.pps = append(p.pps[:0], n...)
		}
		out = append(out, n)
	}
	if !idr {
		return out, false, newSPS
	}
	if p.sps == nil || p.pps == nil {
		return out, false, newSPS
	}
	if !hasSPS || !hasPPS {
		lead := make([][]byte, 0, len(out)+2)
		if !hasSPS {
			lead = append(lead, p.sps)
		}
		if !hasPPS {
			lead = append(lead, p.pps)
		}
		out = append(lead, out...)
	}
	return out, true, newSPS
}
