package testmedia

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FileParams describes a single-file clip, as a seller would upload it.
type FileParams struct {
	Path     string // the container follows the extension: .mp4/.mov/.mkv get H.264+AAC, .webm VP8+Opus
	Duration time.Duration
	Size     string // WxH, default 640x360
	NoAudio  bool
	// Noise makes the picture random noise encoded at a very high quality: a big file of few
	// seconds (for multipart uploads).
	Noise bool
}

// File writes the clip at p.Path with ffmpeg.
func File(p FileParams) error {
	if p.Size == "" {
		p.Size = "640x360"
	}
	d := strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64)
	src := fmt.Sprintf("testsrc2=size=%s:rate=30", p.Size)
	if p.Noise {
		src = fmt.Sprintf("nullsrc=size=%s:rate=30,geq=random(1)*255:128:128", p.Size)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src}
	if !p.NoAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000")
	}
	args = append(args, "-t", d, "-map", "0:v")
	if !p.NoAudio {
		args = append(args, "-map", "1:a")
	}
	switch ext := strings.ToLower(filepath.Ext(p.Path)); {
	case ext == ".webm":
		args = append(args, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M", "-c:a", "libopus")
	case p.Noise:
		args = append(args, "-c:v", "mpeg4", "-q:v", "1", "-c:a", "aac")
	default:
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")
	}
	args = append(args, p.Path)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("testmedia: ffmpeg: %v: %s", err, b)
	}
	return nil
}
