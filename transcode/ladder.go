package transcode

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// videoCodecs are the recorded video codecs ffmpeg reads (MIME types as in Track.Codec): VP8,
// VP9, AV1 (libdav1d) and H.264, each from IVF.
var videoCodecs = []string{"video/VP8", "video/VP9", "video/AV1", "video/H264"}

// knownVideo reports whether a track's codec is one the handler transcodes (empty: VP8, as
// payloads written before the codec was recorded).
func knownVideo(codec string) bool {
	if codec == "" {
		return true
	}
	for _, c := range videoCodecs {
		if strings.EqualFold(c, codec) {
			return true
		}
	}
	return false
}

// Rung is one rendition of the ladder.
type Rung struct {
	Name      string `json:"name"` // "720p"
	Height    int    `json:"height"`
	Width     int    `json:"width"` // derived from the source aspect, even
	VideoKbps int    `json:"video_kbps"`
	Level     string `json:"level"` // H.264 level, e.g. "3.1"
}

// AudioKbps is the AAC bitrate of every rendition.
const AudioKbps = 128

var standard = []struct {
	h, kbps int
	level   string
}{
	{1080, 5000, "4.0"}, {720, 2800, "3.1"}, {480, 1400, "3.0"}, {360, 800, "3.0"}, {240, 400, "3.0"},
}

// Ladder derives the renditions for a source size: every standard height up to the source's
// (never upscaling), at most maxRungs of them (0 = all); a source smaller than every standard
// height gets one rendition at its own size.
func Ladder(srcW, srcH, maxRungs int) []Rung {
	if srcW <= 0 || srcH <= 0 {
		srcW, srcH = 1280, 720
	}
	even := func(x float64) int { return int(math.Round(x/2)) * 2 }
	var out []Rung
	for _, s := range standard {
		if s.h > srcH {
			continue
		}
		out = append(out, Rung{Name: fmt.Sprintf("%dp", s.h), Height: s.h, Width: even(float64(s.h) * float64(srcW) / float64(srcH)), VideoKbps: s.kbps, Level: s.level})
		if maxRungs > 0 && len(out) == maxRungs {
			break
		}
	}
	if len(out) == 0 {
		h := srcH &^ 1
		out = append(out, Rung{Name: fmt.Sprintf("%dp", h), Height: h, Width: srcW &^ 1, VideoKbps: 300, Level: "3.0"})
	}
	return out
}

// Codecs is the CODECS attribute of a rendition (H.264 High at its level + AAC-LC).
func (r Rung) Codecs(audio bool) string {
	lv := map[string]string{"3.0": "1e", "3.1": "1f", "4.0": "28"}[r.Level]
	if lv == "" {
		lv = "1f"
	}
	c := "avc1.6400" + lv
	if audio {
		c += ",mp4a.40.2"
	}
	return c
}

// Bandwidth is the peak BANDWIDTH of a rendition in bits/s.
func (r Rung) Bandwidth(audio bool) int {
	b := r.VideoKbps * 1100 // maxrate is 1.07× the target
	if audio {
		b += AudioKbps * 1000
	}
	return b
}

// ffmpegArgs builds one ffmpeg run that encodes a chunk into every rung (one decode, split).
// out is the local output directory; files land in out/<rung>/cNNNNNN[_NNN].{m3u8,ts}. A rung
// of height 0 is audio only. Decoding tolerates damage: corrupt packets are skipped (the frames
// around them still play) instead of failing the run, however many there are (-max_error_rate
// 1); tracks that do not decode at all were replaced by fillers before (encodeIn).
func ffmpegArgs(p ChunkPayload, in encodeIn, ladder []Rung, out string, preset string) []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats",
		"-max_error_rate", "1"}
	tolerant := []string{"-err_detect", "ignore_err", "-fflags", "+discardcorrupt"}
	vin, ain := -1, -1
	n := 0
	var video []Rung
	for _, r := range ladder {
		if r.Height > 0 {
			video = append(video, r)
		}
	}
	switch {
	case in.video != "":
		args = append(args, tolerant...)
		args = append(args, "-itsoffset", ffloat(p.Video.Offset))
		if strings.EqualFold(filepath.Ext(in.video), ".ivf") {
			// Every recorded codec is in IVF (named by its fourcc) with 90 kHz frame timestamps.
			args = append(args, "-f", "ivf")
		}
		args = append(args, "-i", in.video)
		vin = n
		n++
	case in.black && len(video) > 0:
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("color=c=black:s=%dx%d:r=30", video[0].Width, video[0].Height))
		vin = n
		n++
	}
	switch {
	case in.audio != "":
		args = append(args, tolerant...)
		args = append(args, "-itsoffset", ffloat(p.Audio.Offset), "-i", in.audio)
		ain = n
	case in.silence:
		args = append(args, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo")
		ain = n
	}
	filler := in.black || in.silence
	if vin >= 0 && len(video) > 0 {
		f := fmt.Sprintf("[%d:v]split=%d", vin, len(video))
		for i := range video {
			f += fmt.Sprintf("[s%d]", i)
		}
		for i, r := range video {
			f += fmt.Sprintf(";[s%d]scale=-2:%d:flags=bicubic,format=yuv420p[v%d]", i, r.Height, i)
		}
		args = append(args, "-filter_complex", f)
	}
	name := chunkName(p.Index)
	vi := 0
	for _, r := range ladder {
		if r.Height > 0 && vin >= 0 {
			args = append(args, "-map", fmt.Sprintf("[v%d]", vi),
				"-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-level:v", r.Level,
				"-b:v", fmt.Sprintf("%dk", r.VideoKbps), "-maxrate", fmt.Sprintf("%dk", r.VideoKbps*107/100),
				"-bufsize", fmt.Sprintf("%dk", r.VideoKbps*2),
				"-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
				// A source whose frames come irregularly has no rate ffmpeg can guess, and it takes
				// the IVF time base (90 kHz): capped, or a 4 s chunk is 360,000 frames to encode.
				"-fpsmax", "60")
			vi++
		}
		if ain >= 0 {
			// aresample async: packets lost in the recording become silence, not a timestamp gap.
			args = append(args, "-map", fmt.Sprintf("%d:a:0", ain), "-af", "aresample=async=1", "-c:a", "aac", "-b:a", fmt.Sprintf("%dk", AudioKbps), "-ac", "2", "-ar", "48000")
		}
		if p.Duration > 0 {
			args = append(args, "-t", ffloat(p.Duration))
		}
		if filler && (r.Height > 0 || in.silence) {
			args = append(args, "-shortest") // a filler runs for ever: end with the real track
		}
		args = append(args, "-output_ts_offset", ffloat(p.Start), "-muxdelay", "0", "-muxpreload", "0",
			"-f", "hls", "-hls_time", "2", "-hls_list_size", "0", "-hls_playlist_type", "vod",
			"-hls_segment_type", "mpegts",
			"-hls_segment_filename", fmt.Sprintf("%s/%s/%s_%%03d.ts", out, r.Name, name),
			fmt.Sprintf("%s/%s/%s.m3u8", out, r.Name, name))
	}
	return args
}

func ffloat(f float64) string { return fmt.Sprintf("%.6f", f) }
