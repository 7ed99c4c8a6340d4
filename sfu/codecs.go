package sfu

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// codecs lists what relaycast accepts from publishers and offers to viewers: Opus for audio; VP8,
// VP9, H.264 and AV1 for video. Video codecs carry RTX (retransmission) only towards publishers.
type codecSpec struct {
	mime, fmtp string
	pt, rtxPT  webrtc.PayloadType
}

var videoCodecs = []codecSpec{
	{webrtc.MimeTypeVP8, "", 96, 97},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 102, 103},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f", 104, 105},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 106, 107},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", 108, 109},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 127, 125},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", 112, 113},
	{webrtc.MimeTypeVP9, "profile-id=0", 98, 99},
	{webrtc.MimeTypeVP9, "profile-id=2", 100, 101},
	{webrtc.MimeTypeAV1, "", 45, 46},
}

// registerCodecs fills m. withRTX and withTWCC select the publisher flavour (retransmissions and
// transport-wide congestion feedback from the browser's encoder side).
func registerCodecs(m *webrtc.MediaEngine, withRTX, withTWCC bool) error {
	fb := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	if withTWCC {
		fb = append(fb, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
	}
	for _, c := range videoCodecs {
		p := webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: 90000, SDPFmtpLine: c.fmtp, RTCPFeedback: fb},
			PayloadType:        c.pt,
		}
		if err := m.RegisterCodec(p, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register %s: %w", c.mime, err)
		}
		if withRTX {
			rtx := webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.pt)},
				PayloadType:        c.rtxPT,
			}
			if err := m.RegisterCodec(rtx, webrtc.RTPCodecTypeVideo); err != nil {
				return fmt.Errorf("register rtx: %w", err)
			}
		}
	}
	var afb []webrtc.RTCPFeedback
	if withTWCC {
		afb = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: afb},
		PayloadType:        111,
	}
	return m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio)
}

// startBitrateKbps is the start bitrate hinted to publishing browsers.
const startBitrateKbps = 1200

// withStartBitrate adds x-google-start-bitrate to every video codec of an answer. Chromium reads
// it from the remote description and starts encoding at that rate (and a matching resolution)
// instead of ~300 kbps; TWCC feedback governs from there. Other clients ignore the parameter.
func withStartBitrate(sdp string) string {
	lines := strings.Split(sdp, "\r\n")
	video := map[string]bool{}
	for _, l := range lines {
		if pt, rest, ok := strings.Cut(strings.TrimPrefix(l, "a=rtpmap:"), " "); ok && strings.HasPrefix(l, "a=rtpmap:") {
			name, _, _ := strings.Cut(rest, "/")
			switch strings.ToUpper(name) {
			case "VP8", "VP9", "H264", "AV1":
				video[pt] = true
			}
		}
	}
	hasFmtp := map[string]bool{}
	param := fmt.Sprintf("x-google-start-bitrate=%d", startBitrateKbps)
	for i, l := range lines {
		if pt, _, ok := strings.Cut(strings.TrimPrefix(l, "a=fmtp:"), " "); ok && strings.HasPrefix(l, "a=fmtp:") && video[pt] {
			lines[i] = l + ";" + param
			hasFmtp[pt] = true
		}
	}
	out := make([]string, 0, len(lines)+len(video))
	for _, l := range lines {
		out = append(out, l)
		if pt, _, ok := strings.Cut(strings.TrimPrefix(l, "a=rtpmap:"), " "); ok && strings.HasPrefix(l, "a=rtpmap:") && video[pt] && !hasFmtp[pt] {
			out = append(out, "a=fmtp:"+pt+" "+param)
		}
	}
	return strings.Join(out, "\r\n")
}
