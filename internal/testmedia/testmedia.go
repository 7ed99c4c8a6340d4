// Package testmedia makes real, decodable test media with ffmpeg (VP8, VP9, AV1 or H.264 video in
// IVF, Opus in Ogg with one 20 ms packet per page, as WebRTC sends them) and reads it back as
// timed samples.
package testmedia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	Codec    string // video codec: CodecVP8 (default), CodecVP9, CodecAV1 or CodecH264
}

// Video codecs Generate encodes, with the encoder settings of a real-time WebRTC sender (no
// B-frames or frame reordering, one frame per IVF record).
const (
	CodecVP8  = "vp8"
	CodecVP9  = "vp9"
	CodecAV1  = "av1"
	CodecH264 = "h264"
)

// ErrNoEncoder: this ffmpeg has no encoder for the codec.
var ErrNoEncoder = errors.New("testmedia: ffmpeg has no encoder for this codec")

var (
	encMu  sync.Mutex
	encOut []byte
)

// HasEncoder reports whether ffmpeg has the named encoder (e.g. "libsvtav1").
func HasEncoder(name string) bool {
	encMu.Lock()
	defer encMu.Unlock()
	if encOut == nil {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output()
		if err != nil {
			return false
		}
		encOut = out
	}
	return regexp.MustCompile(`(?m)^\s*V\S*\s+` + regexp.QuoteMeta(name) + `\s`).Match(encOut)
}

// videoArgs returns ffmpeg's encoder options for codec and the output file's extension.
func videoArgs(codec string, gop int) ([]string, string, error) {
	g := []string{"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop)}
	switch codec {
	case "", CodecVP8:
		return append([]string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"}, g...), ".ivf", nil
	case CodecVP9:
		return append([]string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-row-mt", "1", "-b:v", "1M"}, g...), ".ivf", nil
	case CodecAV1:
		switch {
		case HasEncoder("libsvtav1"): // fastest; low-delay prediction (no hidden frames reordered)
			return append([]string{"-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "pred-struct=1", "-b:v", "1M"}, g[:2]...), ".ivf", nil
		case HasEncoder("libaom-av1"):
			return append([]string{"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-b:v", "1M"}, g...), ".ivf", nil
		}
		return nil, "", fmt.Errorf("%w: av1 (needs libsvtav1 or libaom-av1)", ErrNoEncoder)
	case CodecH264:
		// zerolatency: no B-frames, sliced threads (several slices per picture, as hardware
		// encoders send); aud: access unit delimiters mark where each frame starts.
		return append([]string{"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high",
			"-x264-params", "aud=1", "-b:v", "1M", "-bsf:v", "h264_mp4toannexb", "-f", "h264"}, g...), ".h264", nil
	}
	return nil, "", fmt.Errorf("testmedia: unknown codec %q", codec)
}

// Generate writes Dir/video.ivf and Dir/audio.ogg: testsrc2 with a moving pattern and a 440 Hz
// tone with a short beep every second (for sync checks). For H.264 (which ffmpeg does not write
// to IVF) it also leaves the encoder's Annex-B stream as Dir/video.h264 (what AnnexB returns);
// video.ivf holds its access units, fourcc H264, one per frame at the clip's frame rate.
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
	vargs, ext, err := videoArgs(p.Codec, p.GOP)
	if err != nil {
		return "", "", err
	}
	video, audio = filepath.Join(p.Dir, "video.ivf"), filepath.Join(p.Dir, "audio.ogg")
	encoded := filepath.Join(p.Dir, "video"+ext)
	d := strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", p.Size, p.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000",
		"-t", d, "-map", "0:v"}
	args = append(append(args, vargs...), encoded,
		"-t", d, "-map", "1:a", "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-page_duration", "20000", audio)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("testmedia: ffmpeg: %v: %s", err, b)
	}
	if ext == ".h264" {
		if err := annexBToIVF(encoded, video, p.FPS); err != nil {
			return "", "", err
		}
	}
	return video, audio, nil
}

// AnnexB is the raw H.264 stream Generate leaves next to an H.264 clip's video.ivf.
func AnnexB(video string) string { return strings.TrimSuffix(video, ".ivf") + ".h264" }

// annexBToIVF splits an Annex-B stream with access unit delimiters into frames and writes them
// to an IVF file (fourcc H264, 90 kHz, frame n at n/fps), the form the recorder writes.
func annexBToIVF(src, dst string, fps int) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	aud := []byte{0, 0, 0, 1, 9}
	if !bytes.HasPrefix(b, aud) {
		return fmt.Errorf("testmedia: %s does not start with an access unit delimiter", src)
	}
	var out bytes.Buffer
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "H264")
	binary.LittleEndian.PutUint32(hdr[16:], 90000)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	out.Write(hdr)
	n := 0
	for len(b) > 0 {
		end := bytes.Index(b[len(aud):], aud)
		au := b
		if end >= 0 {
			au = b[:len(aud)+end]
		}
		var fh [12]byte
		binary.LittleEndian.PutUint32(fh[0:], uint32(len(au)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(n*90000/fps))
		out.Write(fh[:])
		out.Write(au)
		b = b[len(au):]
		n++
	}
	res := out.Bytes()
	binary.LittleEndian.PutUint32(res[24:], uint32(n))
	return os.WriteFile(dst, res, 0o644)
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
