package client

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/rtp/codecs/vp9"
	"github.com/pion/webrtc/v4"
)

// videoFeedback is the RTCP feedback a file's video track offers (keyframe requests, NACK).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// readVideo reads a video file for the FilePublisher: IVF (the fourcc names the codec) or an
// H.264 Annex-B stream (.h264 or .264; fps frames per second, default 30). It returns the codec to
// send it with and every frame with its time.
func readVideo(path string, fps int) (webrtc.RTPCodecCapability, []fileSample, error) {
	c := webrtc.RTPCodecCapability{ClockRate: 90000, RTCPFeedback: videoFeedback}
	var frames []fileSample
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		c.MimeType = webrtc.MimeTypeH264
		frames, err = readAnnexB(path, fps)
	default:
		var fourcc string
		if fourcc, frames, err = readIVF(path); err != nil {
			break
		}
		switch fourcc {
		case "VP80":
			c.MimeType = webrtc.MimeTypeVP8
		case "VP90":
			c.MimeType = webrtc.MimeTypeVP9
		case "AV01":
			c.MimeType = webrtc.MimeTypeAV1
		case "H264":
			c.MimeType = webrtc.MimeTypeH264
		default:
			err = fmt.Errorf("client: %s: IVF codec %q is not VP80, VP90, AV01 or H264", path, fourcc)
		}
	}
	if err != nil {
		return c, nil, err
	}
	if len(frames) == 0 {
		return c, nil, fmt.Errorf("client: %s: no video frames", path)
	}
	switch c.MimeType {
	case webrtc.MimeTypeH264:
		// profile-level-id from the stream's SPS, so the answer picks the matching profile.
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		for _, n := range splitNALs(frames[0].data) {
			if n[0]&0x1f == 7 && len(n) >= 4 {
				c.SDPFmtpLine = fmt.Sprintf("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=%02x%02x%02x", n[1], n[2], n[3])
				break
			}
		}
	case webrtc.MimeTypeVP9:
		var h vp9.Header
		c.SDPFmtpLine = "profile-id=0"
		if h.Unmarshal(frames[0].data) == nil && h.Profile == 2 {
			c.SDPFmtpLine = "profile-id=2"
		}
	}
	return c, frames, nil
}

// readIVF reads every frame of an IVF file with its time, and the file's fourcc.
func readIVF(path string) (string, []fileSample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return "", nil, fmt.Errorf("client: %s is not an IVF file", path)
	}
	den, num := binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
	if den == 0 || num == 0 {
		return "", nil, fmt.Errorf("client: %s: bad IVF time base", path)
	}
	var out []fileSample
	for off := int(binary.LittleEndian.Uint16(b[6:])); off+12 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		pts := binary.LittleEndian.Uint64(b[off+4:])
		if size > len(b)-off-12 {
			break
		}
		out = append(out, fileSample{data: b[off+12 : off+12+size], at: time.Duration(float64(pts) * float64(num) / float64(den) * float64(time.Second))})
		off += 12 + size
	}
	return string(b[8:12]), out, nil
}

// readAnnexB splits an H.264 Annex-B stream into access units (H.264 §7.4.1.2.3: a new one
// starts at an access unit delimiter, at SPS/PPS/SEI after a slice, or at a slice whose
// first_mb_in_slice is 0 after a slice) and times them at fps.
func readAnnexB(path string, fps int) ([]fileSample, error) {
	if fps <= 0 {
		fps = 30
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []fileSample
	var au []byte
	vcl := false
	flush := func() {
		if vcl {
			out = append(out, fileSample{data: au, at: time.Duration(len(out)) * time.Second / time.Duration(fps)})
		}
		au, vcl = nil, false
	}
	for _, n := range splitNALs(b) {
		switch typ := n[0] & 0x1f; {
		case typ == 9:
			flush()
		case typ == 6 || typ == 7 || typ == 8 || (typ >= 14 && typ <= 18):
			if vcl {
				flush()
			}
		case typ == 1 || typ == 5:
			if vcl && len(n) > 1 && n[1]&0x80 != 0 { // first_mb_in_slice ue(v) == 0
				flush()
			}
			vcl = true
		}
		au = append(append(au, 0, 0, 0, 1), n...)
	}
	flush()
	if len(out) == 0 {
		return nil, fmt.Errorf("client: %s: no H.264 slices", path)
	}
	return out, nil
}

// splitNALs returns the NAL units of an Annex-B stream, without start codes.
func splitNALs(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		b = b[i+3:]
		end := bytes.Index(b, []byte{0, 0, 1})
		n := b
		if end >= 0 {
			n = b[:end]
		}
		if t := bytes.TrimRight(n, "\x00"); len(t) > 0 {
			out = append(out, t)
		}
		if end < 0 {
			break
		}
		b = b[end:]
	}
	return out
}
