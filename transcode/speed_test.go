//go:build unix

package transcode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
)

// record runs a clip through the recorder (as RTP, on a fake clock) and returns its chunks.
func record(t *testing.T, video, audio string, chunk time.Duration) []recorder.ChunkInfo {
	t.Helper()
	samples, err := testmedia.Read(video, audio)
	if err != nil {
		t.Fatal(err)
	}
	return recordSamples(t, nVP8, samples, chunk)
}

// TestMeasureSpeed compares the pipeline (the recorder's chunks, one ffmpeg run each) with one
// plain ffmpeg run of the same ladder over the whole clip. Run it with
//
//	RELAYCAST_MEASURE=60s go test -run TestMeasureSpeed -v ./transcode
func TestMeasureSpeed(t *testing.T) {
	env := os.Getenv("RELAYCAST_MEASURE")
	if env == "" {
		t.Skip("set RELAYCAST_MEASURE=<clip duration> to measure")
	}
	needFFmpeg(t)
	d, err := time.ParseDuration(env)
	if err != nil {
		t.Fatal(err)
	}
	size := os.Getenv("RELAYCAST_MEASURE_SIZE")
	if size == "" {
		size = "1280x720"
	}
	var w, h int
	_, _ = fmtSscanf(size, &w, &h)
	dir := t.TempDir()
	video, audio, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: d, Size: size, GOP: 60})
	if err != nil {
		t.Fatal(err)
	}
	ladder := Ladder(w, h, 0)

	// Plain: one ffmpeg run, same ladder and options, whole clip.
	out := filepath.Join(dir, "plain")
	for _, r := range ladder {
		_ = os.MkdirAll(filepath.Join(out, r.Name), 0o755)
	}
	args := ffmpegArgs(ChunkPayload{Video: &Track{}, Audio: &Track{}}, encodeIn{video: video, audio: audio}, ladder, out, "veryfast")
	began, cpu0 := time.Now(), childCPU()
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("plain ffmpeg: %v %s", err, b)
	}
	plain, plainCPU := time.Since(began), childCPU()-cpu0

	// Pipeline: recorder chunks → upload → per-chunk ffmpeg → upload → playlists.
	chunks := record(t, video, audio, 10*time.Second)
	st, _ := storage.NewLocal(storage.LocalParams{Dir: filepath.Join(dir, "store")})
	hd := NewHandler(HandlerParams{Store: st})
	ctx := context.Background()
	var payloads []ChunkPayload
	for _, c := range chunks {
		p := ChunkPayload{RecordingID: "m", Index: c.Index, Start: c.Start, Duration: c.Duration, Width: c.Width, Height: c.Height}
		for _, tf := range []struct {
			in  *recorder.TrackFile
			out **Track
		}{{c.Video, &p.Video}, {c.Audio, &p.Audio}} {
			key := RawKey("m", c.Index, filepath.Base(tf.in.Path))
			f, _ := os.Open(tf.in.Path)
			_ = st.Put(ctx, key, f, -1)
			_ = f.Close()
			*tf.out = &Track{Key: key, Offset: tf.in.Offset}
		}
		payloads = append(payloads, p)
	}
	putEnd(t, st, "m", len(payloads))
	began, cpu0 = time.Now(), childCPU()
	for _, p := range payloads {
		if err := hd.Chunk(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pipe, pipeCPU := time.Since(began), childCPU()-cpu0
	t.Logf("ffmpeg CPU time: plain %.2f s, pipeline %.2f s (incl. poster); pipeline speed by CPU = %.2f × plain",
		plainCPU.Seconds(), pipeCPU.Seconds(), plainCPU.Seconds()/pipeCPU.Seconds())
	t.Logf("clip %v %s, ladder %d rungs, %d chunks: plain ffmpeg %.2f s (%.2fx realtime), pipeline %.2f s (%.2fx realtime); pipeline speed = %.2f × plain",
		d, size, len(ladder), len(payloads), plain.Seconds(), d.Seconds()/plain.Seconds(), pipe.Seconds(), d.Seconds()/pipe.Seconds(), plain.Seconds()/pipe.Seconds())
}

func fmtSscanf(s string, w, h *int) (int, error) { return fmt.Sscanf(s, "%dx%d", w, h) }

// childCPU is the user+system CPU time of every child process waited for so far.
func childCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
