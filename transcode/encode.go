package transcode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// minPlayable is the shortest encoded chunk that counts as media (seconds): less is an encode
// that produced empty segments (every frame undecodable), never a playable part.
const minPlayable = 0.05

// encodeIn is what one encode reads: each track's local file, or a filler in place of a track
// that does not decode, so that every chunk of a recording has the same streams and renditions.
type encodeIn struct {
	video, audio string // local files of tracks that decode ("" = none)
	black        bool   // video rungs from black frames (the chunk's video does not decode)
	silence      bool   // audio from silence (the chunk's audio does not decode)
	audioRung    bool   // also the audio-only rendition "audio" (the video does not decode)
	tracks       []TrackState
	log          string // what the decoders said, cleaned
}

// Chunk transcodes one chunk into every rung, uploads it and marks it done. A chunk already
// done is skipped, so running a task twice (re-lease after a crash, reconciler) costs nothing.
// Each track is decoded first: one that does not decode at all is dropped (black video or
// silence takes its place, and the chunk says so); a chunk of which nothing decodes is marked
// empty, and the recording fails only if every chunk is (TryFinalize).
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
	dir, err := h.scratch()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var in encodeIn
	var logs []string
	// decodes tells whether any frame of file decodes, keeping what the decoder said.
	decodes := func(file string, video bool) (bool, error) {
		d, err := h.decodeCheck(ctx, file, video, 0)
		if err != nil {
			return false, err
		}
		if d.log != "" {
			logs = append(logs, d.log)
		}
		return d.frames > 0, nil
	}
	if p.Video != nil {
		ts := TrackState{Kind: "video", Codec: codecName(p.Video.Codec, "video")}
		file := filepath.Join(dir, "in-video"+filepath.Ext(p.Video.Key))
		switch {
		case !knownVideo(p.Video.Codec):
			ts.Dropped, ts.Reason = true, fmt.Sprintf("the codec %s is not supported", p.Video.Codec)
		default:
			if err := h.download(ctx, p.Video.Key, file); err != nil {
				return err
			}
			if err := checkIVF(file); err != nil {
				ts.Dropped, ts.Reason = true, ReasonUndecodable
				logs = append(logs, "video: "+err.Error())
				break
			}
			ok, err := decodes(file, true)
			if err != nil {
				return err
			}
			if !ok {
				ts.Dropped, ts.Reason = true, ReasonUndecodable
			} else {
				in.video = file
			}
		}
		in.tracks = append(in.tracks, ts)
	}
	if p.Audio != nil {
		ts := TrackState{Kind: "audio", Codec: codecName(p.Audio.Codec, "audio")}
		file := filepath.Join(dir, "in-audio"+filepath.Ext(p.Audio.Key))
		if err := h.download(ctx, p.Audio.Key, file); err != nil {
			return err
		}
		ok, err := decodes(file, false)
		if err != nil {
			return err
		}
		if !ok {
			ts.Dropped, ts.Reason = true, ReasonUndecodable
		} else {
			in.audio = file
		}
		in.tracks = append(in.tracks, ts)
	}
	in.log = CleanLog(strings.Join(logs, "\n"))
	if in.video == "" && in.audio == "" {
		return h.markEmpty(ctx, p, in)
	}
	if p.Video != nil && in.video == "" {
		in.black, in.audioRung = true, true
		log.Warn("video track does not decode; black frames in its place", "log", in.log)
	}
	if p.Audio != nil && in.audio == "" {
		in.silence = true
		log.Warn("audio track does not decode; silence in its place", "log", in.log)
	}
	return h.encode(ctx, p, dir, in)
}

// markEmpty records a chunk of which nothing decodes: no segments, its tracks and log.
func (h *Handler) markEmpty(ctx context.Context, p ChunkPayload, in encodeIn) error {
	h.log.Warn("nothing of the chunk decodes", "recording", p.RecordingID, "chunk", p.Index, "log", in.log)
	done := chunkDone{Index: p.Index, Start: p.Start, Empty: true, Tracks: in.tracks, Log: in.log,
		Segments: map[string][]segment{}, Encoded: time.Now().UTC()}
	b, _ := json.MarshalIndent(done, "", " ")
	if err := h.put(ctx, ChunkDoneKey(p.RecordingID, p.Index), b); err != nil {
		return err
	}
	h.p.Notify(ctx, Update{RecordingID: p.RecordingID, Kind: UpdateChunk, Chunk: p.Index, Progress: 100})
	if _, err := h.writeLive(ctx, p.RecordingID); err != nil {
		h.log.Warn("live playlist", "err", err)
	}
	_, err := h.TryFinalize(ctx, p.RecordingID)
	return err
}

// encode runs ffmpeg on a chunk's local inputs (in the scratch directory dir), uploads the
// segments and the poster, marks the chunk done and finalizes when it was the last.
func (h *Handler) encode(ctx context.Context, p ChunkPayload, dir string, in encodeIn) error {
	log := h.log.With("recording", p.RecordingID, "chunk", p.Index)
	ladder := Ladder(p.Width, p.Height, h.p.MaxRungs)
	if in.video == "" && !in.black {
		ladder = []Rung{{Name: "audio"}}
	}
	rungs := ladder
	if in.audioRung {
		rungs = append(append([]Rung{}, ladder...), Rung{Name: "audio"})
	}
	out := filepath.Join(dir, "out")
	for _, r := range rungs {
		if err := os.MkdirAll(filepath.Join(out, r.Name), 0o755); err != nil {
			return err
		}
	}
	args := ffmpegArgs(p, in, rungs, out, h.p.Preset)
	began := time.Now()
	if err := h.runFFmpeg(ctx, args, p); err != nil {
		return err
	}
	elapsed := time.Since(began)

	done := chunkDone{Index: p.Index, Start: p.Start, Audio: in.audio != "" || in.silence, Ladder: ladder,
		Segments: map[string][]segment{}, Encoded: time.Now().UTC(), Tracks: in.tracks, AudioRung: in.audioRung, Log: in.log}
	for _, r := range rungs {
		pl, err := os.ReadFile(filepath.Join(out, r.Name, chunkName(p.Index)+".m3u8"))
		if err != nil {
			return fmt.Errorf("%w: no playlist for %s: %v", ErrFFmpeg, r.Name, err)
		}
		done.Segments[r.Name] = parseSegments(pl)
	}
	for _, s := range done.Segments[ladder[0].Name] {
		done.Duration += s.Duration
	}
	if done.Duration < minPlayable {
		// Frames went in, none came out (a decoder that gave up after the check): nothing to play.
		in.log = CleanLog(strings.TrimSpace(in.log + "\nthe encode produced no media"))
		for i := range in.tracks {
			in.tracks[i].Dropped, in.tracks[i].Reason = true, ReasonUndecodable
		}
		return h.markEmpty(ctx, p, in)
	}
	for _, r := range rungs {
		for _, s := range done.Segments[r.Name] {
			if err := h.upload(ctx, filepath.Join(out, r.Name, s.URI), "rec/"+p.RecordingID+"/"+r.Name+"/"+s.URI); err != nil {
				return err
			}
		}
	}
	if p.Index == 0 && in.video != "" {
		poster := filepath.Join(dir, "poster.jpg")
		pargs := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}
		if strings.EqualFold(filepath.Ext(in.video), ".ivf") {
			pargs = append(pargs, "-f", "ivf")
		}
		cmd := exec.CommandContext(ctx, h.p.FFmpeg, append(pargs, "-i", in.video, "-frames:v", "1", "-vf", "scale=-2:360", "-q:v", "4", poster)...)
		setChildAttrs(cmd)
		if b, err := cmd.CombinedOutput(); err != nil {
			log.Warn("poster failed", "err", err, "out", CleanLog(string(b)))
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
	setChildAttrs(cmd)
	stderr := &capped{max: 256 << 10}
	cmd.Stderr = stderr
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
		msg := CleanLog(stderr.String())
		var ee *exec.ExitError
		if ctx.Err() == nil && errors.As(err, &ee) && ee.Exited() && badMedia(msg) {
			return fmt.Errorf("%w: %v: %s", ErrBadMedia, err, msg)
		}
		return fmt.Errorf("%w: %v: %s", ErrFFmpeg, err, msg)
	}
	return nil
}

// scratch makes a job's scratch directory under TmpDir, named after this process (so that a
// sweep at start can tell the directories of dead processes from those of live ones).
func (h *Handler) scratch() (string, error) {
	if err := os.MkdirAll(h.p.TmpDir, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(h.p.TmpDir, fmt.Sprintf("%s%d-*", tmpPrefix, os.Getpid()))
}
