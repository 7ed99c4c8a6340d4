package recorder

import (
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// videoFormat turns the frames of one video track (as the sample builder assembles them from
// RTP) into what goes into the chunk file, and tells keyframes apart. One value per track: H.264
// and AV1 remember their parameter sets so a keyframe that comes without them still starts a
// decodable chunk.
type videoFormat interface {
	// frame returns the frame to write, whether it can start a chunk (a keyframe the decoder can
	// begin with) and, for a keyframe that carries it, the picture size (0 when unknown).
	frame(data []byte) (out []byte, key bool, w, h int)
}

// videoCodec is a video codec the recorder writes: every codec the SFU accepts. All of them go
// into IVF (32-byte header + 12-byte frame headers with 90 kHz timestamps), which ffmpeg's IVF
// demuxer reads for each fourcc (VP80, VP90, AV01 and H264) and which stays readable after a
// crash because every frame is one write(2).
type videoCodec struct {
	mime   string // canonical MIME type, as stored in the manifest
	fourcc string // IVF codec tag
	depack func() rtp.Depacketizer
	format func() videoFormat
}

var videoCodecs = []videoCodec{
	{webrtc.MimeTypeVP8, "VP80", func() rtp.Depacketizer { return &codecs.VP8Packet{} }, func() videoFormat { return vp8Format{} }},
	{webrtc.MimeTypeVP9, "VP90", func() rtp.Depacketizer { return &vp9Depacketizer{} }, func() videoFormat { return &vp9Format{} }},
	// H264Packet without IsAVC emits Annex-B (start codes), one access unit per sample.
	{webrtc.MimeTypeH264, "H264", func() rtp.Depacketizer { return &h264Depacketizer{} }, func() videoFormat { return &h264Format{} }},
	// AV1Depacketizer emits the OBUs of a temporal unit with size fields (low-overhead format).
	{webrtc.MimeTypeAV1, "AV01", func() rtp.Depacketizer { return &codecs.AV1Depacketizer{} }, func() videoFormat { return &av1Format{} }},
}

// videoCodecFor returns the recorder's codec for a MIME type.
func videoCodecFor(mime string) (videoCodec, bool) {
	for _, c := range videoCodecs {
		if strings.EqualFold(c.mime, mime) {
			return c, true
		}
	}
	return videoCodec{}, false
}

type vp8Format struct{}

func (vp8Format) frame(f []byte) ([]byte, bool, int, int) {
	key, w, h := vp8Key(f)
	return f, key, w, h
}

// h264Depacketizer is codecs.H264Packet that forgets a fragmented NAL unit whose end was lost:
// H264Packet keeps FU-A fragments until the end bit and would put them in front of the next
// fragmented unit. A new FU-A start begins afresh.
type h264Depacketizer struct {
	codecs.H264Packet
}

func (d *h264Depacketizer) Unmarshal(payload []byte) ([]byte, error) {
	if len(payload) >= 2 && payload[0]&0x1f == 28 && payload[1]&0x80 != 0 {
		d.H264Packet = codecs.H264Packet{}
	}
	return d.H264Packet.Unmarshal(payload)
}
