package client

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
)

// TestReadVideo: the file publisher reads real clips of every codec with the right codec and
// frame times; an H.264 Annex-B stream splits into the same access units as its IVF form.
func TestReadVideo(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	for _, tt := range []struct{ codec, mime, fmtp string }{
		{testmedia.CodecVP8, webrtc.MimeTypeVP8, ""},
		{testmedia.CodecVP9, webrtc.MimeTypeVP9, "profile-id=0"},
		{testmedia.CodecAV1, webrtc.MimeTypeAV1, ""},
		{testmedia.CodecH264, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001e"},
	} {
		t.Run(tt.codec, func(t *testing.T) {
			t.Parallel()
			v, _, err := testmedia.Generate(testmedia.Params{Dir: t.TempDir(), Duration: 2 * time.Second, Codec: tt.codec})
			if errors.Is(err, testmedia.ErrNoEncoder) && os.Getenv("CI") != "true" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			c, frames, err := readVideo(v, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.MimeType != tt.mime || c.SDPFmtpLine != tt.fmtp || c.ClockRate != 90000 {
				t.Errorf("codec %+v, want %s %q", c, tt.mime, tt.fmtp)
			}
			if len(frames) != 60 || frames[59].at != 59*time.Second/30 {
				t.Fatalf("%d frames, last at %v", len(frames), frames[len(frames)-1].at)
			}
			if tt.codec != testmedia.CodecH264 {
				return
			}
			c2, raw, err := readVideo(testmedia.AnnexB(v), 30)
			if err != nil || c2.MimeType != webrtc.MimeTypeH264 || c2.SDPFmtpLine != tt.fmtp {
				t.Fatalf("annex-b: %+v %v", c2, err)
			}
			if len(raw) != len(frames) {
				t.Fatalf("annex-b: %d access units, IVF %d frames", len(raw), len(frames))
			}
			for i := range raw {
				a, b := splitNALs(raw[i].data), splitNALs(frames[i].data)
				if raw[i].at != frames[i].at || len(a) != len(b) || len(a) < 2 {
					t.Fatalf("access unit %d: %d NAL units at %v, IVF %d at %v", i, len(a), raw[i].at, len(b), frames[i].at)
				}
				for j := range a {
					if !bytes.Equal(a[j], b[j]) {
						t.Fatalf("access unit %d NAL %d differs", i, j)
					}
				}
			}
		})
	}
	// Not a video file: a clear error.
	bad := filepath.Join(t.TempDir(), "x.ivf")
	hdr := []byte("DKIF\x00\x00\x20\x00HEVC\x80\x02\x68\x01\x90\x5f\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	_ = os.WriteFile(bad, append(hdr, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff), 0o644)
	if _, _, err := readVideo(bad, 0); err == nil || !strings.Contains(err.Error(), `IVF codec "HEVC"`) {
		t.Errorf("HEVC IVF: %v", err)
	}
}
