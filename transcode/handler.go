package transcode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/storage"
)

// Store is what the handler needs of object storage.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	DeletePrefix(ctx context.Context, prefix string) error
	URL(key string) string
}

// Update kinds.
const (
	UpdateProgress = "progress" // a chunk is being encoded (Progress = % of that chunk)
	UpdateChunk    = "chunk"    // a chunk is done; HLSURL plays what is done so far
	UpdateReady    = "ready"    // the final VOD is in storage
	UpdateFailed   = "failed"   // a job failed for good
)

// Update is a status change the handler reports (the caller fans it out as an event).
type Update struct {
	RecordingID string   `json:"recording_id"`
	Kind        string   `json:"kind"`
	Chunk       int      `json:"chunk"`
	Progress    float64  `json:"progress,omitempty"`
	Duration    float64  `json:"duration,omitempty"`
	Renditions  []string `json:"renditions,omitempty"`
	HLSURL      string   `json:"hls_url,omitempty"`
	PosterURL   string   `json:"poster_url,omitempty"`
	Error       string   `json:"error,omitempty"`
	// Speed is encoded media seconds per wall second of the chunk's ffmpeg run.
	Speed float64 `json:"speed,omitempty"`
	// Took is the wall time of the chunk's ffmpeg run, seconds.
	Took float64 `json:"took,omitempty"`
}

// HandlerParams configures a Handler.
type HandlerParams struct {
	Store  Store
	Logger *slog.Logger
	// Notify receives status updates (may be nil). It must not block for long.
	Notify func(context.Context, Update)
	FFmpeg string // default "ffmpeg" on PATH
	TmpDir string // default os.TempDir()
	Preset string // x264 preset, default "veryfast"
	// MaxRungs caps the ladder (0 = every standard height up to the source).
	MaxRungs int
	// KeepRaw keeps raw chunks in storage after the recording is ready.
	KeepRaw bool
	// Nice lowers ffmpeg's CPU priority (in-process workers: live media comes first).
	Nice bool
	// FFprobe probes uploaded files; default "ffprobe" next to FFmpeg (or on PATH).
	FFprobe string
}

// Handler runs chunk and finalize tasks. It is an asynq.Handler.
type Handler struct {
	p   HandlerParams
	log *slog.Logger
}

// NewHandler builds a handler.
func NewHandler(p HandlerParams) *Handler {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.FFmpeg == "" {
		p.FFmpeg = "ffmpeg"
	}
	if p.FFprobe == "" {
		p.FFprobe = "ffprobe"
		if dir := filepath.Dir(p.FFmpeg); strings.ContainsRune(p.FFmpeg, filepath.Separator) {
			p.FFprobe = filepath.Join(dir, "ffprobe")
		}
	}
	if p.TmpDir == "" {
		p.TmpDir = os.TempDir()
	}
	if p.Preset == "" {
		p.Preset = "veryfast"
	}
	if p.Notify == nil {
		p.Notify = func(context.Context, Update) {}
	}
	return &Handler{p: p, log: p.Logger.With("component", "transcode")}
}

// tmpPrefix names the handler's per-job scratch directories.
const tmpPrefix = "relaycast-chunk-"

// CleanTmp removes scratch directories left by jobs of killed workers (older than an hour).
func (h *Handler) CleanTmp() {
	ents, _ := os.ReadDir(h.p.TmpDir)
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(filepath.Join(h.p.TmpDir, e.Name()))
		}
	}
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	switch t.Type() {
	case TypeChunk:
		var p ChunkPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.RecordingID == "" {
			return fmt.Errorf("%w: %v: %w", ErrBadPayload, err, asynq.SkipRetry)
		}
		err := h.Chunk(ctx, p)
		if errors.Is(err, ErrSourceMissing) || errors.Is(err, ErrBadMedia) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	case TypeFinalize:
		var p FinalizePayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.RecordingID == "" {
			return fmt.Errorf("%w: %v: %w", ErrBadPayload, err, asynq.SkipRetry)
		}
		_, err := h.TryFinalize(ctx, p.RecordingID)
		return err
	case TypeFile:
		var p FilePayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.RecordingID == "" || p.Key == "" {
			return fmt.Errorf("%w: %v: %w", ErrBadPayload, err, asynq.SkipRetry)
		}
		err := h.File(ctx, p)
		if errors.Is(err, ErrSourceMissing) || errors.Is(err, ErrBadMedia) || errors.Is(err, ErrNotVideo) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	return fmt.Errorf("%w: unknown type %q: %w", ErrBadPayload, t.Type(), asynq.SkipRetry)
}

// chunkDone is rec/ID/chunks/N.json.
type chunkDone struct {
	Index    int                    `json:"index"`
	Start    float64                `json:"start"`
	Duration float64                `json:"duration"`
	Audio    bool                   `json:"audio"`
	Ladder   []Rung                 `json:"ladder"`
	Segments map[string][]segment   `json:"segments"` // rung name → segments
	Encoded  time.Time              `json:"encoded"`
	Extra    map[string]interface{} `json:"extra,omitempty"`
}

type segment struct {
	URI      string  `json:"uri"` // relative to the rung directory
	Duration float64 `json:"duration"`
}

// Chunk transcodes one chunk into every rung, uploads it and marks it done. A chunk already
// done is skipped, so running a task twice (re-lease after a crash, reconciler) costs nothing.
func (h *Handler) Chunk(ctx context.Context, p ChunkPayload) error {
	log := h.log.With("recording", p.RecordingID, "chunk", p.Index)
	if ok, err := h.exists(ctx, ChunkDoneKey(p.RecordingID, p.Index)); err != nil {
		return err
	} else if ok {
		log.Debug("chunk already done")
		_, err := h.TryFinalize(ctx, p.RecordingID)
		return err
	}
	if p.Video == nil && p.Audio == nil {
		return fmt.Errorf("%w: chunk has no tracks", ErrSourceMissing)
	}
	if p.Video != nil && !knownVideo(p.Video.Codec) {
		return fmt.Errorf("%w: video codec %q is not transcoded", ErrBadMedia, p.Video.Codec)
	}
	dir, err := os.MkdirTemp(h.p.TmpDir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var videoFile, audioFile string
	if p.Video != nil {
		videoFile = filepath.Join(dir, "in-video"+filepath.Ext(p.Video.Key))
		if err := h.download(ctx, p.Video.Key, videoFile); err != nil {
			return err
		}
		if err := checkIVF(videoFile); err != nil {
			return err
		}
	}
	if p.Audio != nil {
		audioFile = filepath.Join(dir, "in-audio"+filepath.Ext(p.Audio.Key))
		if err := h.download(ctx, p.Audio.Key, audioFile); err != nil {
			return err
		}
	}
	return h.encode(ctx, p, dir, videoFile, audioFile)
}

// encode runs ffmpeg on a chunk's local files (in the scratch directory dir), uploads the
// segments and the poster, marks the chunk done and finalizes when it was the last.
func (h *Handler) encode(ctx context.Context, p ChunkPayload, dir, videoFile, audioFile string) error {
	log := h.log.With("recording", p.RecordingID, "chunk", p.Index)
	ladder := Ladder(p.Width, p.Height, h.p.MaxRungs)
	if videoFile == "" {
		ladder = []Rung{{Name: "audio"}}
	}
	out := filepath.Join(dir, "out")
	for _, r := range ladder {
		if err := os.MkdirAll(filepath.Join(out, r.Name), 0o755); err != nil {
			return err
		}
	}
	args := ffmpegArgs(p, videoFile, audioFile, ladder, out, h.p.Preset)
	began := time.Now()
	if err := h.runFFmpeg(ctx, args, p); err != nil {
		return err
	}
	elapsed := time.Since(began)

	done := chunkDone{Index: p.Index, Start: p.Start, Audio: audioFile != "", Ladder: ladder, Segments: map[string][]segment{}, Encoded: time.Now().UTC()}
	for _, r := range ladder {
		pl, err := os.ReadFile(filepath.Join(out, r.Name, chunkName(p.Index)+".m3u8"))
		if err != nil {
			return fmt.Errorf("%w: no playlist for %s: %v", ErrFFmpeg, r.Name, err)
		}
		segs := parseSegments(pl)
		if len(segs) == 0 {
			return fmt.Errorf("%w: no frames decoded for %s", ErrBadMedia, r.Name)
		}
		done.Segments[r.Name] = segs
		for _, s := range segs {
			if err := h.upload(ctx, filepath.Join(out, r.Name, s.URI), "rec/"+p.RecordingID+"/"+r.Name+"/"+s.URI); err != nil {
				return err
			}
		}
	}
	for _, s := range done.Segments[ladder[0].Name] {
		done.Duration += s.Duration
	}
	if p.Index == 0 && videoFile != "" {
		poster := filepath.Join(dir, "poster.jpg")
		cmd := exec.CommandContext(ctx, h.p.FFmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
			"-i", videoFile, "-frames:v", "1", "-vf", "scale=-2:360", "-q:v", "4", poster)
		if b, err := cmd.CombinedOutput(); err != nil {
			log.Warn("poster failed", "err", err, "out", string(b))
		} else if err := h.upload(ctx, poster, PosterKey(p.RecordingID)); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(done, "", " ")
	if err := h.put(ctx, ChunkDoneKey(p.RecordingID, p.Index), b); err != nil {
		return err
	}
	speed := 0.0
	if elapsed > 0 {
		speed = done.Duration / elapsed.Seconds()
	}
	log.Info("chunk transcoded", "duration", done.Duration, "took", elapsed.Round(time.Millisecond), "speed", math.Round(speed*100)/100)
	h.p.Notify(ctx, Update{RecordingID: p.RecordingID, Kind: UpdateChunk, Chunk: p.Index, Progress: 100, Speed: speed, Duration: done.Duration, Took: elapsed.Seconds()})
	if _, err := h.writeLive(ctx, p.RecordingID); err != nil {
		log.Warn("live playlist", "err", err)
	}
	_, err := h.TryFinalize(ctx, p.RecordingID)
	return err
}

func (h *Handler) runFFmpeg(ctx context.Context, args []string, p ChunkPayload) error {
	cmd := exec.CommandContext(ctx, h.p.FFmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %v", ErrFFmpeg, err)
	}
	if h.p.Nice {
		lowerPriority(cmd.Process.Pid)
	}
	sc := bufio.NewScanner(stdout)
	last := time.Time{}
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "out_time_us="); ok && p.Duration > 0 && time.Since(last) > time.Second {
			us, _ := strconv.ParseInt(v, 10, 64)
			pct := math.Min(99, float64(us)/1e6/p.Duration*100)
			h.p.Notify(ctx, Update{RecordingID: p.RecordingID, Kind: UpdateProgress, Chunk: p.Index, Progress: math.Round(pct)})
			last = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		var ee *exec.ExitError
		if ctx.Err() == nil && errors.As(err, &ee) && ee.Exited() && badMedia(msg) {
			return fmt.Errorf("%w: %v: %s", ErrBadMedia, err, msg)
		}
		return fmt.Errorf("%w: %v: %s", ErrFFmpeg, err, msg)
	}
	return nil
}

// checkIVF refuses a raw video chunk that is not an IVF file before ffmpeg sees it: the input
// is read with an explicit "-f ivf", which makes ffmpeg treat any bytes as a stream of an
// unknown codec and fail with a message that does not say the data is bad.
func checkIVF(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr) != "DKIF" {
		return fmt.Errorf("%w: video chunk: Invalid data found: not an IVF file (starts with %q)", ErrBadMedia, hdr)
	}
	return nil
}

// badMedia reports whether ffmpeg's errors say the input cannot be decoded (as opposed to a
// crash, a kill or a full disk, which are worth retrying).
func badMedia(stderr string) bool {
	for _, s := range []string{"Invalid data found", "Error while decoding", "Failed to decode", "does not contain any stream",
		"Output file is empty", "Nothing was written", "Corrupt", "Invalid frame", "Decoder (codec none) not found"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

func parseSegments(pl []byte) []segment {
	var out []segment
	var dur float64
	for _, line := range strings.Split(string(pl), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			v := strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ",")
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			dur, _ = strconv.ParseFloat(v, 64)
		case line != "" && !strings.HasPrefix(line, "#"):
			out = append(out, segment{URI: line, Duration: dur})
		}
	}
	return out
}

func (h *Handler) download(ctx context.Context, key, dst string) error {
	rc, err := h.p.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrSourceMissing, key)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		_ = f.Close()
		return fmt.Errorf("%w: get %s: %w", ErrStorage, key, err)
	}
	return f.Close()
}

func (h *Handler) upload(ctx context.Context, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := h.p.Store.Put(ctx, key, f, st.Size()); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

func (h *Handler) put(ctx context.Context, key string, b []byte) error {
	if err := h.p.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

func (h *Handler) exists(ctx context.Context, key string) (bool, error) {
	rc, err := h.p.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	_ = rc.Close()
	return true, nil
}

func (h *Handler) getJSON(ctx context.Context, key string, v any) (bool, error) {
	rc, err := h.p.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(v); err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrStorage, key, err)
	}
	return true, nil
}

// notifyFailed reports a task that will not be retried again.
func (h *Handler) notifyFailed(ctx context.Context, t *asynq.Task, err error) {
	var p struct {
		RecordingID string `json:"recording_id"`
		Index       int    `json:"index"`
	}
	if json.Unmarshal(t.Payload(), &p) != nil || p.RecordingID == "" {
		return
	}
	msg := strings.TrimSuffix(err.Error(), ": "+asynq.SkipRetry.Error())
	h.p.Notify(ctx, Update{RecordingID: p.RecordingID, Kind: UpdateFailed, Chunk: p.Index, Error: msg})
}
