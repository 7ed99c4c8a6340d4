package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/relaycast/relaycast/client"
)

// The synthetic publisher's media: a short loop of real VP8 + Opus encoded once at start with
// ffmpeg (testsrc2 and a beeping tone), then sent over and over by client.Publisher with
// running RTP timestamps. It costs the harness one encode (about a second of CPU) instead of a
// live encoder, and browser viewers and recordings decode it.
const (
	loopSeconds = 2  // loop length
	loopFPS     = 30 // client.Publisher's frame rate
	loopGOP     = 30 // frames per keyframe (1 s); a keyframe request skips to the next one at once
	loopAudio   = "48k"
)

// loopLayer is one encoded video stream of the loop.
type loopLayer struct {
	name    string // file name stem
	size    string // WxH
	bitrate int
}

// loopLayers are the streams: one at the configured bitrate, or the three simulcast layers
// (q, h, f as client.SimulcastRIDs: 320, 640, 1280 pixels wide at 1/10, 1/3 and all of it).
func loopLayers(bitrate int, simulcast bool) []loopLayer {
	if !simulcast {
		return []loopLayer{{"video", "640x360", bitrate}}
	}
	return []loopLayer{{"q", "320x180", bitrate / 10}, {"h", "640x360", bitrate / 3}, {"f", "1280x720", bitrate}}
}

// encodeLoop makes the synthetic publisher's loop in a temporary directory and reads it into
// memory. Without ffmpeg it says so (ErrNoFFmpeg): the harness cannot send decodable media.
func encodeLoop(ctx context.Context, ffmpeg string, bitrate int, simulcast bool) (*client.Loop, error) {
	bin, err := exec.LookPath(ffmpeg)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoFFmpeg, err)
	}
	dir, err := os.MkdirTemp("", "relaycast-loadtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	layers := loopLayers(bitrate, simulcast)
	top := layers[len(layers)-1].size
	// One GOP more than the loop, dropped: the rate control settles over the first second
	// (undershooting by a sixth), and the loop is what follows, from its second keyframe.
	frames := strconv.Itoa(loopSeconds*loopFPS + loopGOP)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", top, loopFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000"}
	var split strings.Builder
	fmt.Fprintf(&split, "[0:v]split=%d", len(layers))
	for i := range layers {
		fmt.Fprintf(&split, "[s%d]", i)
	}
	for i, l := range layers {
		fmt.Fprintf(&split, ";[s%d]scale=%s[v%d]", i, strings.Replace(l.size, "x", ":", 1), i)
	}
	args = append(args, "-filter_complex", split.String())
	for i, l := range layers {
		br := strconv.Itoa(max(l.bitrate, 50_000))
		// Constant bitrate (so the stream fills its target as a live encoder's does), no hidden
		// alt-ref frames and no look-ahead (every IVF record is one frame shown), a keyframe
		// every loopGOP frames.
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-frames:v", frames,
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-threads", "1",
			"-b:v", br, "-minrate", br, "-maxrate", br, "-bufsize", br,
			"-g", strconv.Itoa(loopGOP), "-keyint_min", strconv.Itoa(loopGOP),
			"-auto-alt-ref", "0", "-lag-in-frames", "0", filepath.Join(dir, l.name+".ivf"))
	}
	audio := filepath.Join(dir, "audio.ogg")
	args = append(args, "-map", "1:a", "-t", strconv.Itoa(loopSeconds+1), "-c:a", "libopus", "-b:a", loopAudio,
		"-ac", "2", "-page_duration", "20000", audio)
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: %v: %s", ErrEncode, err, strings.TrimSpace(string(out)))
	}
	loop := &client.Loop{}
	for _, l := range layers {
		f, err := client.VP8Frames(filepath.Join(dir, l.name+".ivf"))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrEncode, err)
		}
		if len(f) < loopGOP+1 {
			return nil, fmt.Errorf("%w: %s: %d frames", ErrEncode, l.name, len(f))
		}
		if f = f[loopGOP:]; !f[0].Key {
			return nil, fmt.Errorf("%w: %s: frame %d is not a keyframe", ErrEncode, l.name, loopGOP)
		}
		loop.Layers = append(loop.Layers, f)
	}
	if !simulcast {
		loop.Video, loop.Layers = loop.Layers[0], nil
	}
	if loop.Audio, err = client.OpusPackets(audio); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	// The same stretch as the video: 20 ms packets from second 1.
	if skip, n := loopGOP*50/loopFPS, loopSeconds*50; len(loop.Audio) >= skip+n {
		loop.Audio = loop.Audio[skip : skip+n]
	}
	if len(loop.Audio) == 0 {
		return nil, fmt.Errorf("%w: no audio packets", ErrEncode)
	}
	return loop, nil
}
