package recorder

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestH264Size: the picture size from real x264 SPSs of every branch of the parser: profiles
// with and without the chroma fields, 4:2:0 / 4:2:2 / 4:4:4 cropping units, an interlaced
// (field) stream and scaling matrices.
func TestH264Size(t *testing.T) {
	needMedia(t)
	tests := []struct {
		name, args string
		w, h       int
	}{
		{"constrained baseline", "-profile:v baseline -pix_fmt yuv420p -s 640x360", 640, 360},
		{"high 4:2:2", "-profile:v high422 -pix_fmt yuv422p -s 426x240", 426, 240},
		{"high 4:4:4 odd size", "-profile:v high444 -pix_fmt yuv444p -s 321x181", 321, 181},
		{"interlaced 1080", "-pix_fmt yuv420p -s 1920x1080 -flags +ildct+ilme -x264-params interlaced=1", 1920, 1080},
		{"scaling matrices", "-pix_fmt yuv420p -s 1280x720 -x264-params cqm=jvt", 1280, 720},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "one.h264")
			args := append([]string{"-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=rate=30", "-frames:v", "1", "-c:v", "libx264"},
				append(strings.Fields(tt.args), "-f", "h264", file)...)
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f := &h264Format{}
			_, key, w, h := f.frame(b)
			if !key || w != tt.w || h != tt.h {
				t.Fatalf("key %v size %dx%d, want %dx%d", key, w, h, tt.w, tt.h)
			}
		})
	}
	// Broken SPSs are refused, never a panic or a wild size.
	for _, sps := range [][]byte{{0x67}, {0x67, 0x64, 0, 0x1f}, {0x67, 0x42, 0, 0x1f, 0x00, 0x00}, {0x68, 1, 2, 3}} {
		if w, h, err := h264Size(sps); err == nil {
			t.Errorf("% x: %dx%d, want an error", sps, w, h)
		}
	}
}

func TestSplitAnnexB(t *testing.T) {
	b := []byte{0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 3, 0, 0, 3, 1}
	got := splitAnnexB(b)
	want := []string{"\x09\xf0", "\x67\x01\x02", "\x65\x03\x00\x00\x03\x01"}
	if len(got) != len(want) {
		t.Fatalf("%d units: % x", len(got), got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("unit %d: % x, want % x", i, got[i], want[i])
		}
	}
	if u := unescapeRBSP([]byte{1, 0, 0, 3, 1, 0, 0, 3, 0}); string(u) != "\x01\x00\x00\x01\x00\x00\x00" {
		t.Errorf("unescape: % x", u)
	}
}
