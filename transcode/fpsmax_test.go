package transcode

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testmedia"
)

// TestIrregularFrameRate: a recorded chunk whose frames come irregularly (a browser on a starved
// machine drops frames and the rest jitter) has no frame rate ffmpeg can guess, and it took the IVF time base (90 kHz) as the output rate: a 4 s chunk became 360,000
// constant-rate frames to encode and the recording stayed "processing" for hours. The output rate
// is capped (-fpsmax 60): the chunk transcodes in seconds.
func TestIrregularFrameRate(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	video, audio, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: 4 * time.Second, Size: "320x180"})
	if err != nil {
		t.Fatal(err)
	}
	// Frame times of a chunk Chromium sent on a starved machine (90 kHz; frames dropped, the rest
	// jittering), then 30 fps.
	starved := []uint64{0, 3870, 6570, 9720, 20700, 26640, 32490, 40590, 50490, 71100, 77130, 80010, 82890, 87660,
		88920, 91710, 94680, 107010, 109530, 114030, 115470, 119070, 122580, 124740, 132120, 133650, 136170,
		139140, 142290, 144990, 149850, 154260, 173160, 190440, 192870, 197640, 202680, 216360, 229770, 239130}
	b, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	// The recorder's IVF time base: 1/90000 (ffmpeg wrote the clip's as 1/30).
	binary.LittleEndian.PutUint32(b[16:], 90000)
	binary.LittleEndian.PutUint32(b[20:], 1)
	for off, i := 32, 0; off+12 <= len(b); i++ {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		pts := binary.LittleEndian.Uint64(b[off+4:])
		if i < len(starved) {
			pts = starved[i]
		} else {
			pts = starved[len(starved)-1] + uint64(i-len(starved)+1)*3000
		}
		binary.LittleEndian.PutUint64(b[off+4:], pts)
		off += 12 + n
	}
	if err := os.WriteFile(video, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ladder := Ladder(320, 180, 1)
	out := filepath.Join(dir, "out")
	for _, r := range ladder {
		_ = os.MkdirAll(filepath.Join(out, r.Name), 0o755)
	}
	args := ffmpegArgs(ChunkPayload{Video: &Track{}, Audio: &Track{}, Duration: 4}, encodeIn{video: video, audio: audio}, ladder, out, "ultrafast")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	if b, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg after %v: %v %s", time.Since(began).Round(time.Second), err, b)
	}
	took := time.Since(began)
	t.Logf("transcoded in %.1f s", took.Seconds())
	if took > 15*time.Second {
		t.Errorf("a 4 s chunk took %v to transcode", took.Round(time.Second))
	}
}
