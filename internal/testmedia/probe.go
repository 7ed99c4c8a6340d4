package testmedia

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Report is what CheckHLS measured of a playlist (or any file ffprobe reads).
type Report struct {
	Duration      float64 // container duration, seconds
	Video, Audio  bool
	Width, Height int
	AVOffset      float64 // audio start − video start, seconds
	MaxVideoGap   float64 // largest step between consecutive video timestamps
	MaxVideoGapAt float64 // where it is
	MaxAudioGap   float64
	VideoFrames   int
}

// Probe runs ffprobe on target (a file or an HLS playlist) and measures it.
func Probe(target string) (Report, error) {
	var r Report
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", target).Output()
	if err != nil {
		return r, fmt.Errorf("ffprobe %s: %w", target, err)
	}
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			StartTime string `json:"start_time"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return r, err
	}
	var vs, as float64
	for _, s := range p.Streams {
		st, _ := strconv.ParseFloat(s.StartTime, 64)
		switch s.CodecType {
		case "video":
			r.Video, vs, r.Width, r.Height = true, st, s.Width, s.Height
		case "audio":
			r.Audio, as = true, st
		}
	}
	r.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	if r.Video && r.Audio {
		r.AVOffset = as - vs
	}
	for _, sel := range []string{"v:0", "a:0"} {
		if (sel == "v:0" && !r.Video) || (sel == "a:0" && !r.Audio) {
			continue
		}
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", sel, "-show_entries", "packet=pts_time", "-of", "csv=p=0", target).Output()
		if err != nil {
			return r, fmt.Errorf("ffprobe packets %s: %w", target, err)
		}
		// Packets come in decode order (B-frames): compare presentation times in order.
		var pts []float64
		for _, line := range strings.Fields(string(out)) {
			if v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64); err == nil {
				pts = append(pts, v)
			}
		}
		sort.Float64s(pts)
		gap, at, n := 0.0, 0.0, len(pts)
		for i := 1; i < n; i++ {
			if d := pts[i] - pts[i-1]; d > gap {
				gap, at = d, pts[i-1]
			}
		}
		if sel == "v:0" {
			r.MaxVideoGap, r.MaxVideoGapAt, r.VideoFrames = gap, at, n
		} else {
			r.MaxAudioGap = gap
		}
	}
	return r, nil
}
