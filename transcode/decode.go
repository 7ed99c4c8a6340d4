package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TrackState is what a recording (or one chunk of it) holds of one recorded track. Its JSON is
// catalog.Track's.
type TrackState struct {
	Kind    string `json:"kind"`  // "video" or "audio"
	Codec   string `json:"codec"` // lower case: vp8, vp9, av1, h264, opus, aac, …
	Dropped bool   `json:"dropped,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Reasons a track was dropped.
const (
	ReasonUndecodable = "could not be decoded"
)

// probeTimeout bounds one decode check: a chunk decodes in a few seconds; a file may be long.
const probeTimeout = 10 * time.Minute

// decoded is what decoding one track found.
type decoded struct {
	frames int    // frames the decoder produced
	codec  string // the decoder's codec name
	log    string // the decoder's complaints (raw, bounded)
}

// fileCheckSpan is how much of an uploaded file the decode check reads: a file can be hours
// long, and a track that decodes nowhere in its first minutes is taken as one that does not.
const fileCheckSpan = 2 * time.Minute

// decodeCheck decodes a file's first video (video) or audio stream with ffprobe -count_frames
// (its first span only, when span > 0) and counts the frames that came out: 0 means nothing of
// the track can be played. Errors are only for a check that could not run (no ffprobe, killed):
// worth a retry elsewhere.
func (h *Handler) decodeCheck(ctx context.Context, file string, video bool, span time.Duration) (decoded, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	sel := "a:0"
	if video {
		sel = "v:0"
	}
	args := []string{"-v", "error", "-count_frames"}
	if span > 0 {
		args = append(args, "-read_intervals", fmt.Sprintf("%%+%d", int(span.Seconds())))
	}
	if strings.EqualFold(filepath.Ext(file), ".ivf") {
		args = append(args, "-f", "ivf")
	}
	args = append(args, "-select_streams", sel, "-show_entries", "stream=codec_name,nb_read_frames", "-of", "json", file)
	cmd := exec.CommandContext(ctx, h.p.FFprobe, args...)
	setChildAttrs(cmd)
	stderr := &capped{max: 64 << 10}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	d := decoded{log: stderr.String()}
	if ctx.Err() != nil {
		return d, fmt.Errorf("%w: decode check of %s: %v", ErrFFmpeg, filepath.Base(file), ctx.Err())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return d, fmt.Errorf("%w: ffprobe: %v", ErrFFmpeg, err)
	}
	if err != nil {
		return d, nil // ffprobe refused the file itself: nothing of it decodes
	}
	var p struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if json.Unmarshal(out, &p) != nil || len(p.Streams) == 0 {
		return d, nil
	}
	d.codec = p.Streams[0].Codec
	d.frames, _ = strconv.Atoi(p.Streams[0].Frames)
	return d, nil
}

// codecName is the lower-case codec of a MIME type ("video/VP8" → "vp8"); empty is VP8 (payloads
// written before the codec was recorded).
func codecName(mime, kind string) string {
	if mime == "" {
		if kind == "video" {
			return "vp8"
		}
		return "opus"
	}
	if i := strings.IndexByte(mime, '/'); i >= 0 {
		mime = mime[i+1:]
	}
	return strings.ToLower(mime)
}

// capped is an io.Writer keeping the first max bytes written to it.
type capped struct {
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string { return string(c.b) }
