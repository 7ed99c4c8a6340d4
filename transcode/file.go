package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Source is what ffprobe found in an uploaded or imported file.
type Source struct {
	Width, Height int
	Duration      float64 // seconds; 0 when the container does not say
	Audio         bool
	Format        string // container, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
}

// Probe reads a local file with ffprobe. A file without a decodable video stream (not a video,
// or cut short before its index) is ErrNotVideo.
func (h *Handler) Probe(ctx context.Context, file string) (Source, error) {
	var src Source
	cmd := exec.CommandContext(ctx, h.p.FFprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", file)
	setChildAttrs(cmd)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return src, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return src, fmt.Errorf("%w: ffprobe: %v", ErrFFmpeg, err) // not installed: worth a retry elsewhere
	}
	if err != nil {
		return src, fmt.Errorf("%w (or it is truncated): %s", ErrNotVideo, lastLine(stderr.String(), filepath.Base(file)))
	}
	var p struct {
		Streams []struct {
			CodecType   string `json:"codec_type"`
			Width       int    `json:"width"`
			Height      int    `json:"height"`
			Disposition struct {
				AttachedPic int `json:"attached_pic"`
			} `json:"disposition"`
		} `json:"streams"`
		Format struct {
			Name     string `json:"format_name"`
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return src, fmt.Errorf("%w: ffprobe output: %v", ErrNotVideo, err)
	}
	for _, s := range p.Streams {
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0 && s.Width > 0 && s.Height > 0 && src.Width == 0:
			src.Width, src.Height = s.Width, s.Height
		case s.CodecType == "audio":
			src.Audio = true
		}
	}
	src.Format = p.Format.Name
	src.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	if src.Width == 0 {
		return src, fmt.Errorf("%w: %s has no video stream", ErrNotVideo, p.Format.Name)
	}
	return src, nil
}

// lastLine is ffprobe's last error line without the file name it starts with.
func lastLine(s, name string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if i := strings.Index(l, name+": "); i >= 0 {
		l = l[i+len(name)+2:]
	}
	if l == "" {
		l = "ffprobe cannot read it"
	}
	return l
}

// File transcodes a whole uploaded or imported file: it is probed, then encoded as the only
// chunk of its recording (same ladder, storage layout, playlists, poster and updates as a live
// recording). Running it again once done only reports ready again. A file that is no video
// fails for good and its source and partial output are removed from storage.
func (h *Handler) File(ctx context.Context, p FilePayload) (err error) {
	log := h.log.With("recording", p.RecordingID, "source", p.Key)
	if ok, err := h.exists(ctx, ChunkDoneKey(p.RecordingID, 0)); err != nil {
		return err
	} else if ok {
		log.Debug("file already transcoded")
		_, err := h.TryFinalize(ctx, p.RecordingID)
		return err
	}
	defer func() {
		if errors.Is(err, ErrNotVideo) || errors.Is(err, ErrBadMedia) || errors.Is(err, ErrSourceMissing) {
			// Permanent: leave nothing half-written behind.
			for _, prefix := range []string{"raw/" + p.RecordingID + "/", "rec/" + p.RecordingID + "/"} {
				if derr := h.p.Store.DeletePrefix(context.WithoutCancel(ctx), prefix); derr != nil {
					log.Warn("cannot clean up a failed file", "prefix", prefix, "err", derr)
				}
			}
		}
	}()
	dir, err := h.scratch()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "source"+filepath.Ext(p.Key))
	if err := h.download(ctx, p.Key, file); err != nil {
		return err
	}
	src, err := h.Probe(ctx, file)
	if err != nil {
		return err
	}
	log.Info("transcoding file", "format", src.Format, "width", src.Width, "height", src.Height, "duration", src.Duration, "audio", src.Audio)
	b, _ := json.Marshal(End{Chunks: 1, Width: src.Width, Height: src.Height})
	if err := h.put(ctx, EndKey(p.RecordingID), b); err != nil {
		return err
	}
	cp := ChunkPayload{RecordingID: p.RecordingID, Duration: src.Duration, Width: src.Width, Height: src.Height,
		Video: &Track{Key: p.Key}}
	// The video must decode (a file whose picture cannot be shown is no video); audio that does
	// not decode is dropped.
	in := encodeIn{video: file}
	d, err := h.decodeCheck(ctx, file, true, fileCheckSpan)
	if err != nil {
		return err
	}
	if d.frames == 0 {
		return fmt.Errorf("%w: cannot decode the video (truncated or corrupt file?): %s", ErrNotVideo, CleanLog(d.log))
	}
	in.tracks = append(in.tracks, TrackState{Kind: "video", Codec: d.codec})
	logs := d.log
	if src.Audio {
		a, err := h.decodeCheck(ctx, file, false, fileCheckSpan)
		if err != nil {
			return err
		}
		logs += "\n" + a.log
		ts := TrackState{Kind: "audio", Codec: a.codec}
		if a.frames == 0 {
			ts.Dropped, ts.Reason = true, ReasonUndecodable
			log.Warn("audio does not decode; dropped", "log", CleanLog(a.log))
		} else {
			cp.Audio, in.audio = &Track{Key: p.Key}, file
		}
		in.tracks = append(in.tracks, ts)
	}
	in.log = CleanLog(logs)
	err = h.encode(ctx, cp, dir, in)
	if errors.Is(err, ErrBadMedia) {
		return fmt.Errorf("%w: cannot decode the video (truncated or corrupt file?): %w", ErrNotVideo, err)
	}
	return err
}
