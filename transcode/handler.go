package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
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
	// Error is one human sentence: why it failed (failed), or what was dropped (ready).
	Error string `json:"error,omitempty"`
	// Speed is encoded media seconds per wall second of the chunk's ffmpeg run.
	Speed float64 `json:"speed,omitempty"`
	// Took is the wall time of the chunk's ffmpeg run, seconds.
	Took float64 `json:"took,omitempty"`
	// Tracks (ready): what the recording holds of each recorded track, dropped ones with why.
	Tracks []TrackState `json:"tracks,omitempty"`
	// Log (ready, failed): the tools' output behind Error, cleaned (CleanLog), for operators.
	Log string `json:"log,omitempty"`
	// Retryable (failed): a retry could help (false for permanent failures).
	Retryable bool `json:"retryable,omitempty"`
	// Nonce is a random id each published update carries (archive.PublishUpdates): every node
	// hears it and one announces it, while two updates that say the same thing stay two.
	Nonce string `json:"nonce,omitempty"`
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

// CleanTmp sweeps scratch directories left behind by killed processes: those in TmpDir whose
// process (named in the directory) is gone, and, in the system temp dir, those of older versions
// (which had no process id) older than an hour. Directories of live processes (another worker
// sharing the data dir) are left alone.
func (h *Handler) CleanTmp() {
	h.sweep(h.p.TmpDir, false)
	if sys := os.TempDir(); filepath.Clean(sys) != filepath.Clean(h.p.TmpDir) {
		h.sweep(sys, true)
	}
}

func (h *Handler) sweep(dir string, legacyOnly bool) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), tmpPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		stale := false
		pidText, _, hasPid := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		switch {
		case hasPid && err == nil && pid > 0:
			stale = !legacyOnly && pid != os.Getpid() && !alive(pid)
		default: // no pid: an older version's directory
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				stale = true
			}
		}
		if stale {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err == nil {
				h.log.Info("removed stale scratch directory", "dir", filepath.Join(dir, e.Name()))
			}
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
	// Tracks: what the chunk had of each recorded track (dropped: it did not decode; the chunk
	// then holds black video or silence in its place, so every chunk has the same streams).
	Tracks []TrackState `json:"tracks,omitempty"`
	// Empty: nothing of the chunk decoded; it has no segments.
	Empty bool `json:"empty,omitempty"`
	// gapBefore (not stored): a hole was skipped before this chunk (loadChunks).
	gapBefore bool
	// afterHole (not stored): the index before this chunk's is a hole, skipped or not: the
	// seam of a takeover, where the timeline may jump (mediaPlaylist).
	afterHole bool
	// AudioRung: the chunk's video did not decode, so it also has the audio-only rendition
	// "audio" (used when no chunk of the recording has video).
	AudioRung bool `json:"audio_rung,omitempty"`
	// Log is what the decoders said of the chunk (cleaned), for the recording's operator log.
	Log string `json:"log,omitempty"`
}

type segment struct {
	URI      string  `json:"uri"` // relative to the rung directory
	Duration float64 `json:"duration"`
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

// maxSegmentDuration bounds the EXTINF durations parseSegments takes (seconds): NaN, infinite,
// negative or longer values read as 0.
const maxSegmentDuration = 3600

// parseSegments reads the segments (URI and EXTINF duration) of an HLS media playlist.
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
			if math.IsNaN(dur) || dur < 0 || dur > maxSegmentDuration {
				dur = 0 // unreadable, like a value that does not parse (it sets EXT-X-TARGETDURATION)
			}
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

// notifyFailed reports a task that will not be retried again: a short human reason, the error
// text as the operator log (never the queue's own "skip retry" wording) and whether a retry
// could help.
func (h *Handler) notifyFailed(ctx context.Context, t *asynq.Task, err error) {
	var p struct {
		RecordingID string `json:"recording_id"`
		Index       int    `json:"index"`
	}
	if json.Unmarshal(t.Payload(), &p) != nil || p.RecordingID == "" {
		return
	}
	msg, log, retryable := Describe(err)
	h.p.Notify(ctx, Update{RecordingID: p.RecordingID, Kind: UpdateFailed, Chunk: p.Index, Error: msg, Log: log, Retryable: retryable})
}
