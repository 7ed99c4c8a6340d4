package testmedia

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGenerateCodecs: every codec's clip is read back frame by frame, starts on a keyframe and
// is what ffprobe says it is.
func TestGenerateCodecs(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	for _, tt := range []struct{ codec, ffprobe string }{
		{CodecVP8, "vp8"}, {CodecVP9, "vp9"}, {CodecAV1, "av1"}, {CodecH264, "h264"},
	} {
		t.Run(tt.codec, func(t *testing.T) {
			t.Parallel()
			v, a, err := Generate(Params{Dir: t.TempDir(), Duration: 2 * time.Second, Codec: tt.codec})
			if errors.Is(err, ErrNoEncoder) && os.Getenv("CI") != "true" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
				"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", v).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != tt.ffprobe+",640,360,60" {
				t.Errorf("ffprobe: %q, want %s,640,360,60", got, tt.ffprobe)
			}
			s, err := Read(v, a)
			if err != nil {
				t.Fatal(err)
			}
			var video int
			for _, x := range s {
				if x.Video {
					if want := time.Duration(video) * time.Second / 30; x.At < want-time.Millisecond || x.At > want+time.Millisecond {
						t.Fatalf("frame %d at %v, want %v", video, x.At, want)
					}
					video++
				}
			}
			if a := len(s) - video; video != 60 || a < 100 || a > 101 {
				t.Errorf("%d frames, %d audio packets; want 60, 100 (+1 for the encoder delay)", video, a)
			}
			if tt.codec == CodecH264 {
				if st, err := os.Stat(AnnexB(v)); err != nil || st.Size() == 0 {
					t.Errorf("no Annex-B stream: %v", err)
				}
			}
		})
	}
}
