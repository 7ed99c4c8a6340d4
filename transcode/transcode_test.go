package transcode

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/storage"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// makeChunk writes a VP8 IVF + Opus Ogg pair of dur seconds (what the recorder writes).
func makeChunk(t *testing.T, dir string, dur float64, size string) (video, audio string) {
	t.Helper()
	video, audio = filepath.Join(dir, "video.ivf"), filepath.Join(dir, "audio.ogg")
	d := strconv.FormatFloat(dur, 'f', 3, 64)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", d, "-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M", "-g", "60", video,
		"-t", d, "-map", "1:a", "-c:a", "libopus", "-b:a", "64k", audio)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make chunk: %v: %s", err, b)
	}
	return video, audio
}

type probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		StartTime string `json:"start_time"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
}

func ffprobe(t *testing.T, target string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func atof(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }

type recorded struct {
	mu      sync.Mutex
	updates []Update
}

func (r *recorded) notify(_ context.Context, u Update) {
	r.mu.Lock()
	r.updates = append(r.updates, u)
	r.mu.Unlock()
}

func (r *recorded) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.updates {
		if u.Kind == kind {
			n++
		}
	}
	return n
}

func (r *recorded) last(kind string) (Update, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.updates) - 1; i >= 0; i-- {
		if r.updates[i].Kind == kind {
			return r.updates[i], true
		}
	}
	return Update{}, false
}

// putChunks uploads n raw chunks of dur seconds and returns their payloads.
func putChunks(t *testing.T, st Store, id string, n int, dur float64) []ChunkPayload {
	t.Helper()
	var out []ChunkPayload
	for i := range n {
		dir := t.TempDir()
		v, a := makeChunk(t, dir, dur, "640x360")
		p := ChunkPayload{RecordingID: id, Index: i, Start: float64(i) * dur, Duration: dur, Width: 640, Height: 360,
			Video: &Track{Key: RawKey(id, i, "video.ivf"), Codec: "video/VP8"},
			Audio: &Track{Key: RawKey(id, i, "audio.ogg"), Codec: "audio/opus"}}
		for file, key := range map[string]string{v: p.Video.Key, a: p.Audio.Key} {
			f, _ := os.Open(file)
			if err := st.Put(context.Background(), key, f, -1); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}
		out = append(out, p)
	}
	return out
}

func putEnd(t *testing.T, st Store, id string, n int) {
	t.Helper()
	b, _ := json.Marshal(End{Chunks: n, Width: 640, Height: 360})
	if err := st.Put(context.Background(), EndKey(id), strings.NewReader(string(b)), -1); err != nil {
		t.Fatal(err)
	}
}

// checkVOD verifies the final archive: every rendition, duration, A/V, no gaps at chunk borders.
func checkVOD(t *testing.T, dir, id string, wantDur float64, rungs []string) {
	t.Helper()
	master, err := os.ReadFile(filepath.Join(dir, MasterKey(id)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rungs {
		if !strings.Contains(string(master), r+"/index.m3u8") || !strings.Contains(string(master), "CODECS=\"avc1.") {
			t.Fatalf("master lacks %s:\n%s", r, master)
		}
		pl := filepath.Join(dir, "rec", id, r, "index.m3u8")
		b, _ := os.ReadFile(pl)
		if strings.Contains(string(b), "DISCONTINUITY") || !strings.Contains(string(b), "#EXT-X-ENDLIST") {
			t.Fatalf("%s playlist:\n%s", r, b)
		}
		p := ffprobe(t, pl)
		var v, a bool
		var vs, as float64
		for _, s := range p.Streams {
			switch s.CodecType {
			case "video":
				v, vs = true, atof(s.StartTime)
			case "audio":
				a, as = true, atof(s.StartTime)
			}
		}
		if !v || !a {
			t.Fatalf("%s: video %v audio %v", r, v, a)
		}
		if d := atof(p.Format.Duration); math.Abs(d-wantDur) > 1 {
			t.Errorf("%s: duration %.2f, want %.2f±1", r, d, wantDur)
		}
		if math.Abs(vs-as) > 0.1 {
			t.Errorf("%s: A/V start offset %.3f s", r, vs-as)
		}
		// No gaps: packet timestamps of the video stream never jump by more than 2 frames.
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", pl).Output()
		if err != nil {
			t.Fatal(err)
		}
		prev := -1.0
		for _, line := range strings.Fields(string(out)) {
			pts := atof(strings.TrimSuffix(line, ","))
			if prev >= 0 && (pts-prev > 0.07 || pts < prev-0.2) {
				t.Errorf("%s: video timestamp jump %.3f → %.3f", r, prev, pts)
			}
			prev = math.Max(prev, pts)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, PosterKey(id))); err != nil {
		t.Errorf("poster: %v", err)
	}
}

func TestLadder(t *testing.T) {
	tests := []struct {
		w, h, max int
		want      string
	}{
		{1920, 1080, 0, "1080p:1920x1080 720p:1280x720 480p:854x480 360p:640x360 240p:426x240"},
		{1280, 720, 2, "720p:1280x720 480p:854x480"},
		{640, 360, 0, "360p:640x360 240p:426x240"},
		{360, 640, 0, "480p:270x480 360p:202x360 240p:136x240"}, // portrait: height-based, never above 640
		{160, 120, 0, "120p:160x120"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.w, tt.h), func(t *testing.T) {
			var got []string
			for _, r := range Ladder(tt.w, tt.h, tt.max) {
				got = append(got, fmt.Sprintf("%s:%dx%d", r.Name, r.Width, r.Height))
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("got %s", strings.Join(got, " "))
			}
		})
	}
}

func TestChunksToVOD(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	st, _ := storage.NewLocal(storage.LocalParams{Dir: dir})
	var rec recorded
	h := NewHandler(HandlerParams{Store: st, Notify: rec.notify, MaxRungs: 2, Preset: "ultrafast"})
	ctx := context.Background()
	const id, n, dur = "rec1", 3, 4.0
	payloads := putChunks(t, st, id, n, dur)
	for _, p := range payloads {
		if err := h.Chunk(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, LiveKey(id))); err != nil {
			t.Fatalf("no live playlist after chunk %d", p.Index)
		}
	}
	if rec.count(UpdateReady) != 0 {
		t.Fatal("ready before the end")
	}
	// Running a chunk again is a no-op (idempotent, no second encode).
	if err := h.Chunk(ctx, payloads[1]); err != nil || rec.count(UpdateChunk) != n {
		t.Fatalf("rerun: %v, %d chunk updates", err, rec.count(UpdateChunk))
	}
	putEnd(t, st, id, n)
	ok, err := h.TryFinalize(ctx, id)
	if err != nil || !ok {
		t.Fatalf("finalize: %v %v", ok, err)
	}
	u, _ := rec.last(UpdateReady)
	if math.Abs(u.Duration-n*dur) > 0.5 || len(u.Renditions) != 2 || u.HLSURL != "/vod/"+MasterKey(id) {
		t.Fatalf("ready update %+v", u)
	}
	checkVOD(t, dir, id, n*dur, []string{"360p", "240p"})
	if _, err := os.Stat(filepath.Join(dir, "raw", id)); !os.IsNotExist(err) {
		t.Errorf("raw chunks kept: %v", err)
	}
}

// redisOpts lists the Redis servers to test against: embedded miniredis always, real Redis when
// RELAYCAST_TEST_REDIS is set (scripts/test.sh starts one; required when CI=true).
func redisOpts(t *testing.T) map[string]func(t *testing.T) (asynq.RedisConnOpt, func()) {
	out := map[string]func(t *testing.T) (asynq.RedisConnOpt, func()){
		"miniredis": func(t *testing.T) (asynq.RedisConnOpt, func()) {
			e, err := StartEmbedded()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			return asynq.RedisClientOpt{Addr: e.Addr()}, e.FlushAll
		},
	}
	addr := os.Getenv("RELAYCAST_TEST_REDIS")
	if addr == "" && os.Getenv("CI") == "true" {
		t.Fatal("RELAYCAST_TEST_REDIS is not set (scripts/test.sh starts redis-server)")
	}
	if addr != "" {
		out["redis"] = func(t *testing.T) (asynq.RedisConnOpt, func()) {
			return asynq.RedisClientOpt{Addr: addr, DB: 3}, func() {}
		}
	}
	return out
}

func TestWorkerQueue(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes video (skipped with -short)")
	}
	for name, mk := range redisOpts(t) {
		t.Run(name, func(t *testing.T) {
			opt, _ := mk(t)
			dir := t.TempDir()
			st, _ := storage.NewLocal(storage.LocalParams{Dir: dir})
			var rec recorded
			id := fmt.Sprintf("q%d", time.Now().UnixNano())
			h := NewHandler(HandlerParams{Store: st, Notify: rec.notify, MaxRungs: 1, Preset: "ultrafast"})
			w := NewWorker(WorkerParams{Redis: opt, Handler: h, Concurrency: 2, PollInterval: 50 * time.Millisecond})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			c := NewClient(opt)
			defer c.Close()
			ctx := context.Background()
			const n, dur = 3, 2.0
			for _, p := range putChunks(t, st, id, n, dur) {
				// Enqueued twice (two servers, reconciler): done once.
				for range 2 {
					if err := c.EnqueueChunk(ctx, p); err != nil {
						t.Fatal(err)
					}
				}
			}
			putEnd(t, st, id, n)
			if err := c.EnqueueFinalize(ctx, id, n); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for rec.count(UpdateReady) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("not ready; updates %+v", rec.updates)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := rec.count(UpdateChunk); got != n {
				t.Fatalf("%d chunk encodes, want %d", got, n)
			}
			checkVOD(t, dir, id, n*dur, []string{"360p"})
		})
	}
}

func TestPermanentFailure(t *testing.T) {
	e, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	opt := asynq.RedisClientOpt{Addr: e.Addr()}
	st, _ := storage.NewLocal(storage.LocalParams{Dir: t.TempDir()})
	var rec recorded
	h := NewHandler(HandlerParams{Store: st, Notify: rec.notify})
	w := NewWorker(WorkerParams{Redis: opt, Handler: h, PollInterval: 50 * time.Millisecond})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := NewClient(opt)
	defer c.Close()
	// The raw files were never uploaded: a permanent failure, archived at once, reported.
	p := ChunkPayload{RecordingID: "gone", Index: 0, Video: &Track{Key: RawKey("gone", 0, "video.ivf")}}
	if err := c.EnqueueChunk(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rec.count(UpdateFailed) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed update")
		}
		time.Sleep(20 * time.Millisecond)
	}
	u, _ := rec.last(UpdateFailed)
	if u.RecordingID != "gone" || u.Error != MsgSourceMissing || !u.Retryable || !strings.Contains(u.Log, "source missing") || strings.Contains(u.Log, "skip retry") {
		t.Fatalf("%+v", u)
	}
	time.Sleep(200 * time.Millisecond)
	if s, err := c.Stats(); err != nil || s.Archived != 1 {
		t.Fatalf("stats %+v %v", s, err)
	}
}

// TestUndecodableChunk: a chunk ffmpeg cannot decode is marked empty (no retries, no segments);
// a recording of nothing else fails for good at its end, not worth a retry.
func TestUndecodableChunk(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	st, _ := storage.NewLocal(storage.LocalParams{Dir: dir})
	ctx := context.Background()
	// A valid IVF header followed by noise "frames".
	ivf := make([]byte, 32)
	copy(ivf, "DKIF")
	ivf[6], ivf[8], ivf[9], ivf[10], ivf[11] = 32, 'V', 'P', '8', '0'
	ivf[12], ivf[13], ivf[14], ivf[15] = 0x80, 2, 0x68, 1
	ivf[16], ivf[20] = 30, 1
	for i := range 30 {
		frame := make([]byte, 12+500)
		frame[0], frame[1] = 0xf4, 0x01
		frame[4] = byte(i)
		for j := 12; j < len(frame); j++ {
			frame[j] = byte(j * 7 * (i + 1))
		}
		ivf = append(ivf, frame...)
	}
	_ = st.Put(ctx, RawKey("bad", 0, "video.ivf"), strings.NewReader(string(ivf)), -1)
	var rec recorded
	h := NewHandler(HandlerParams{Store: st, Preset: "ultrafast", Notify: rec.notify, TmpDir: t.TempDir()})
	task, _ := NewChunkTask(ChunkPayload{RecordingID: "bad", Video: &Track{Key: RawKey("bad", 0, "video.ivf")}, Width: 640, Height: 360})
	if err := h.ProcessTask(ctx, task); err != nil {
		t.Fatalf("chunk: %v", err)
	}
	var done chunkDone
	if ok, err := h.getJSON(ctx, ChunkDoneKey("bad", 0), &done); !ok || err != nil || !done.Empty || len(done.Segments) != 0 {
		t.Fatalf("marker %+v %v %v", done, ok, err)
	}
	putEnd(t, st, "bad", 1)
	if _, err := h.TryFinalize(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	u, ok := rec.last(UpdateFailed)
	if !ok || u.Error != MsgNothingDecodes || u.Retryable || rec.count(UpdateReady) != 0 {
		t.Fatalf("%+v", rec.updates)
	}
	if _, err := os.Stat(filepath.Join(dir, MasterKey("bad"))); !os.IsNotExist(err) {
		t.Errorf("a master playlist for nothing: %v", err)
	}
}

// TestUnknownVideoCodec: the codecs the handler transcodes (TestUnknownVideoCodecAlone: others).
func TestUnknownVideoCodec(t *testing.T) {
	for _, c := range []string{"", "video/VP8", "video/vp9", "video/AV1", "video/H264"} {
		if !knownVideo(c) {
			t.Errorf("%q not transcoded", c)
		}
	}
}
