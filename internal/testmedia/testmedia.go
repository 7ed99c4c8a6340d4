// Package testmedia makes real, decodable test media with ffmpeg (VP8 in IVF, Opus in Ogg with
// one 20 ms packet per page, as WebRTC sends them) and reads it back as timed samples.
package testmedia

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Params of a clip.
type Params struct {
	Dir      string
	Duration time.Duration
	Size     string // WxH, default 640x360
	FPS      int    // default 30
	GOP      int    // frames between keyframes, default FPS (1 s)
}

// Generate writes Dir/video.ivf and Dir/audio.ogg: testsrc2 with a moving pattern and a 440 Hz
// tone with a short beep every second (for sync checks).
func Generate(p Params) (video, audio string, err error) {
	if p.Size == "" {
		p.Size = "640x360"
	}
	if p.FPS == 0 {
		p.FPS = 30
	}
	if p.GOP == 0 {
		p.GOP = p.FPS
	}
	video, audio = filepath.Join(p.Dir, "video.ivf"), filepath.Join(p.Dir, "audio.ogg")
	d := strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", p.Size, p.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000",
		"-t", d, "-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M",
		"-g", strconv.Itoa(p.GOP), "-keyint_min", strconv.Itoa(p.GOP), video,
		"-t", d, "-map", "1:a", "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-page_duration", "20000", audio)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("testmedia: ffmpeg: %v: %s", err, b)
	}
	return video, audio, nil
}

// Sample is one frame or audio packet with its time from the start of the clip.
type Sample struct {
	Data  []byte
	At    time.Duration
	Video bool
}

// Read returns the samples of both files merged in time order.
func Read(video, audio string) ([]Sample, error) {
	var out []Sample
	if video != "" {
		b, err := os.ReadFile(video)
		if err != nil {
			return nil, err
		}
		if len(b) < 32 || string(b[:4]) != "DKIF" {
			return nil, fmt.Errorf("testmedia: %s is not IVF", video)
		}
		den, num := binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
		for off := int(binary.LittleEndian.Uint16(b[6:])); off+12 <= len(b); {
			size := int(binary.LittleEndian.Uint32(b[off:]))
			pts := binary.LittleEndian.Uint64(b[off+4:])
			if off+12+size > len(b) {
				break
			}
			at := time.Duration(float64(pts) * float64(num) / float64(den) * float64(time.Second))
			out = append(out, Sample{Data: b[off+12 : off+12+size], At: at, Video: true})
			off += 12 + size
		}
	}
	if audio != "" {
		f, err := os.Open(audio)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, _, err := oggreader.NewWith(f)
		if err != nil {
			return nil, err
		}
		n := 0
		for {
			page, _, err := r.ParseNextPage()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if len(page) >= 8 && (string(page[:8]) == "OpusTags" || string(page[:8]) == "OpusHead") {
				continue
			}
			out = append(out, Sample{Data: page, At: time.Duration(n) * 20 * time.Millisecond})
			n++
		}
	}
	// Stable merge by time.
	sortSamples(out)
	return out, nil
}

func sortSamples(s []Sample) {
	sort.SliceStable(s, func(i, j int) bool { return s[i].At < s[j].At })
}
