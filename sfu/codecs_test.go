package sfu

import (
	"strings"
	"testing"
)

func TestWithStartBitrate(t *testing.T) {
	in := strings.Join([]string{
		"v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10",
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
		"a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f", "",
	}, "\r\n")
	out := withStartBitrate(in)
	for _, want := range []string{
		"a=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-start-bitrate=1200\r\n",
		"a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=1200\r\n",
		"a=fmtp:97 apt=96\r\n", "a=fmtp:111 minptime=10\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("answer lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "x-google-start-bitrate") != 2 {
		t.Errorf("start bitrate added %d times, want 2 (VP8, H264)", strings.Count(out, "x-google-start-bitrate"))
	}
}
