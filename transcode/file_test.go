package transcode

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/storage"
)

func putFile(t *testing.T, st Store, key, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := st.Put(context.Background(), key, f, -1); err != nil {
		t.Fatal(err)
	}
}

// TestFileTask: whole files in several containers (with and without audio) become the same HLS
// layout as a live recording; running the task again is a no-op that reports ready.
func TestFileTask(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	tests := []struct {
		name, ext string
		noAudio   bool
		size      string
		rungs     []string
	}{
		{"mp4", ".mp4", false, "640x360", []string{"360p", "240p"}},
		{"webm without audio", ".webm", true, "320x240", []string{"240p"}},
		{"mkv", ".mkv", false, "426x240", []string{"240p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st, _ := storage.NewLocal(storage.LocalParams{Dir: dir})
			src := filepath.Join(t.TempDir(), "clip"+tt.ext)
			if err := testmedia.File(testmedia.FileParams{Path: src, Duration: 5 * time.Second, Size: tt.size, NoAudio: tt.noAudio}); err != nil {
				t.Fatal(err)
			}
			id := "up-" + strings.ReplaceAll(tt.name, " ", "-")
			putFile(t, st, SourceKey(id), src)
			rec := &recorded{}
			h := NewHandler(HandlerParams{Store: st, Notify: rec.notify, Preset: "ultrafast", MaxRungs: 2})
			task, _ := NewFileTask(FilePayload{RecordingID: id, Key: SourceKey(id)})
			if err := h.ProcessTask(context.Background(), task); err != nil {
				t.Fatal(err)
			}
			ready, ok := rec.last(UpdateReady)
			if !ok || strings.Join(ready.Renditions, ",") != strings.Join(tt.rungs, ",") || ready.Duration < 4.5 || ready.Duration > 5.5 || ready.PosterURL == "" {
				t.Fatalf("ready update %+v (%v)", ready, ok)
			}
			for _, r := range tt.rungs {
				p := ffprobe(t, filepath.Join(dir, "rec", id, r, "index.m3u8"))
				var v, a bool
				for _, s := range p.Streams {
					v = v || s.CodecType == "video"
					a = a || s.CodecType == "audio"
					if s.CodecType == "video" && s.Height > 360 {
						t.Errorf("%s: upscaled to %d", r, s.Height)
					}
				}
				if !v || a == tt.noAudio {
					t.Errorf("%s: video %v audio %v", r, v, a)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, SourceKey(id))); !os.IsNotExist(err) {
				t.Errorf("source kept after ready: %v", err)
			}
			// Again (a re-delivered task): nothing is encoded, ready is reported once more.
			n := rec.count(UpdateChunk)
			if err := h.ProcessTask(context.Background(), task); err != nil {
				t.Fatal(err)
			}
			if rec.count(UpdateChunk) != n || rec.count(UpdateReady) != 2 {
				t.Fatalf("second run: %d chunk updates (was %d), %d ready", rec.count(UpdateChunk), n, rec.count(UpdateReady))
			}
		})
	}
}

// TestFileTaskBadInput: a file that is not a video, and an mp4 cut short, fail for good with a
// clear error and leave nothing in storage.
func TestFileTaskBadInput(t *testing.T) {
	needFFmpeg(t)
	whole := filepath.Join(t.TempDir(), "whole.mp4")
	if err := testmedia.File(testmedia.FileParams{Path: whole, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(whole)
	truncated := filepath.Join(t.TempDir(), "cut.mp4")
	_ = os.WriteFile(truncated, b[:len(b)/2], 0o644)
	text := filepath.Join(t.TempDir(), "notes.mp4")
	_ = os.WriteFile(text, []byte(strings.Repeat("these are not the frames you are looking for\n", 200)), 0o644)
	audio := filepath.Join(t.TempDir(), "tone.m4a")
	if err := testmedia.File(testmedia.FileParams{Path: filepath.Join(t.TempDir(), "tmp.mp4"), Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if out, err := execFFmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:a", "aac", audio); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, file := range map[string]string{"text": text, "truncated": truncated, "audio only": audio} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			st, _ := storage.NewLocal(storage.LocalParams{Dir: dir})
			putFile(t, st, SourceKey("bad"), file)
			h := NewHandler(HandlerParams{Store: st, Preset: "ultrafast"})
			task, _ := NewFileTask(FilePayload{RecordingID: "bad", Key: SourceKey("bad")})
			err := h.ProcessTask(context.Background(), task)
			if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, ErrNotVideo) {
				t.Fatalf("error %v, want ErrNotVideo + SkipRetry", err)
			}
			t.Logf("error: %v", err)
			if !strings.HasPrefix(err.Error(), "not a video file") {
				t.Errorf("error %q does not start with a clear reason", err)
			}
			for _, sub := range []string{"raw", "rec"} {
				if ents, _ := os.ReadDir(filepath.Join(dir, sub, "bad")); len(ents) != 0 {
					t.Errorf("%s/bad left in storage: %v", sub, ents)
				}
			}
		})
	}
}

func execFFmpeg(args ...string) ([]byte, error) {
	return exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
}
