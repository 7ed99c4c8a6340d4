package hlsfeed

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/relaycast/relaycast/livehls"
)

// tsOffset is where a transcoder run's media time starts in the timestamps it is given (IVF
// and MPEG-TS, 90 kHz): ahead of zero so audio a little before the run's start, the AAC
// encoder's priming, stay positive. ffmpeg keeps the timestamps (-copyts, no mux delay), so its
// output maps back to the stream's media time by the same offset.
const tsOffset = 10 * time.Second

// spec is what one room's ffmpeg does: its inputs and its video outputs (the audio output is
// AAC whenever there is audio in).
type spec struct {
	fourcc string // video in (IVF), "" = none
	w, h   int    // the video's size as the sink last saw it (0 unknown)
	audio  bool   // Opus in (MPEG-TS)
	outs   []output
}

// output is one H.264 rendition ffmpeg makes.
type output struct {
	name    string
	height  int // 0 = the source's size
	bitrate int // bits/s
}

func (s spec) equal(o spec) bool {
	if s.fourcc != o.fourcc || s.w != o.w || s.h != o.h || s.audio != o.audio || len(s.outs) != len(o.outs) {
		return false
	}
	for i := range s.outs {
		if s.outs[i] != o.outs[i] {
			return false
		}
	}
	return true
}

// bitrateFor is the video bit rate of a rendition of height h.
func bitrateFor(h int) int {
	switch {
	case h <= 0:
		return 2_500_000
	case h <= 240:
		return 400_000
	case h <= 360:
		return 800_000
	case h <= 540:
		return 1_500_000
	case h <= 720:
		return 2_500_000
	case h <= 1080:
		return 4_500_000
	}
	return 8_000_000
}

// The AAC ffmpeg makes: LC, 48 kHz, stereo, 128 kb/s.
const (
	audioBitrate  = 128_000
	audioRate     = 48000
	audioChannels = 2
)

// aacParams is the stream audio of that AAC (its AudioSpecificConfig as ffmpeg writes it).
func aacParams() livehls.AudioParams {
	asc := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: audioRate, ChannelCount: audioChannels}
	b, _ := asc.Marshal()
	return livehls.AudioParams{SampleRate: audioRate, Channels: audioChannels, Config: b}
}

// rungsFor returns the ladder's rungs a source of height h allows: those at most 2/3 of it.
func rungsFor(ladder []int, h int) []int {
	var out []int
	for _, r := range ladder {
		if h > 0 && 3*r <= 2*h {
			out = append(out, r)
		}
	}
	return out
}

// args returns ffmpeg's command line for s: video on fd 3 (if any), audio on the next fd,
// MPEG-TS out on stdout with the video outputs first (in order), then the AAC.
func (s spec) args(segment, first time.Duration) []string {
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "warning"}
	in := 0
	vin, ain := -1, -1
	fd := 3
	if s.fourcc != "" {
		a = append(a, "-probesize", "32", "-analyzeduration", "0", "-thread_queue_size", "512", "-f", "ivf", "-i", "pipe:"+strconv.Itoa(fd))
		vin, in, fd = in, in+1, fd+1
	}
	if s.audio {
		a = append(a, "-probesize", "4096", "-analyzeduration", "0", "-thread_queue_size", "512", "-f", "mpegts", "-i", "pipe:"+strconv.Itoa(fd))
		ain = in
	}
	a = append(a, "-copyts")
	if vin >= 0 && len(s.outs) > 0 {
		var fc strings.Builder
		fmt.Fprintf(&fc, "[%d:v]split=%d", vin, len(s.outs))
		for i := range s.outs {
			fmt.Fprintf(&fc, "[s%d]", i)
		}
		for i, o := range s.outs {
			if o.height > 0 {
				fmt.Fprintf(&fc, ";[s%d]scale=-2:%d[o%d]", i, o.height, i)
			} else {
				fmt.Fprintf(&fc, ";[s%d]null[o%d]", i, i)
			}
		}
		a = append(a, "-filter_complex", fc.String())
		for i := range s.outs {
			a = append(a, "-map", fmt.Sprintf("[o%d]", i))
		}
		// Keyframes on the segment grid of media time, the same in every rendition; the second
		// one after first (the packager's shorter first segment, livehls.Config.FirstSegmentTarget)
		// so that a stream that just started has its first segment sooner.
		sec := strconv.FormatFloat(segment.Seconds(), 'f', 3, 64)
		if first > 0 && first < segment {
			sec = "if(eq(n_forced,1)," + strconv.FormatFloat(first.Seconds(), 'f', 3, 64) + "," + sec + ")"
		}
		a = append(a, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
			"-profile:v", "high", "-g", "100000", "-sc_threshold", "0", "-bf", "0",
			"-force_key_frames", "expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+"+sec+"))", "-fps_mode", "passthrough")
		for i, o := range s.outs {
			b := strconv.Itoa(o.bitrate)
			a = append(a, fmt.Sprintf("-b:v:%d", i), b, fmt.Sprintf("-maxrate:v:%d", i), b, fmt.Sprintf("-bufsize:v:%d", i), strconv.Itoa(o.bitrate))
		}
	}
	if ain >= 0 {
		a = append(a, "-map", fmt.Sprintf("%d:a", ain), "-c:a", "aac", "-b:a", strconv.Itoa(audioBitrate), "-ac", strconv.Itoa(audioChannels), "-ar", strconv.Itoa(audioRate))
	}
	return append(a, "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1")
}

// ivfHeader is the 32-byte IVF file header with a 1/90000 time base.
func ivfHeader(fourcc string, w, h int) []byte {
	b := make([]byte, 32)
	copy(b, "DKIF")
	binary.LittleEndian.PutUint16(b[6:], 32)
	copy(b[8:], fourcc)
	binary.LittleEndian.PutUint16(b[12:], uint16(w))
	binary.LittleEndian.PutUint16(b[14:], uint16(h))
	binary.LittleEndian.PutUint32(b[16:], 90000)
	binary.LittleEndian.PutUint32(b[20:], 1)
	return b
}

// ivfFrame is one IVF frame record (12-byte header + the frame), one write to the pipe.
func ivfFrame(frame []byte, pts int64) []byte {
	b := make([]byte, 12+len(frame))
	binary.LittleEndian.PutUint32(b, uint32(len(frame)))
	binary.LittleEndian.PutUint64(b[4:], uint64(pts))
	copy(b[12:], frame)
	return b
}

// ticks is media time d in 90 kHz units.
func ticks(d time.Duration) int64 { return int64(d) * 9 / 100_000 }

// fromTicks is the media time of t 90 kHz units.
func fromTicks(t int64) time.Duration { return time.Duration(t) * 100_000 / 9 }
