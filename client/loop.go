package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Loop is pre-encoded media a Publisher sends over and over instead of noise: real VP8 frames
// (browsers and ffmpeg decode them) at 30 frames/s and Opus packets of 20 ms. The Publisher
// keeps RTP timestamps and sequence numbers running across the loop's end (its packetizers
// never restart), and a keyframe request (PLI/FIR) makes it skip ahead to the loop's next
// keyframe at once: a VP8 keyframe resets every reference, so the jump decodes, and the picture
// moves on a little. Encode the loop with a keyframe every second or two and no hidden frames
// (ffmpeg -c:v libvpx -deadline realtime -g 30 -auto-alt-ref 0 -lag-in-frames 0).
type Loop struct {
	// Video is the single-layer stream; Layers the simulcast one, one stream per SimulcastRIDs
	// entry (q, h, f). Each starts with a keyframe.
	Video  []Frame
	Layers [][]Frame
	Audio  [][]byte // Opus packets, 20 ms each
}

// Frame is one encoded video frame.
type Frame struct {
	Data []byte
	Key  bool
}

// ErrBadLoop: a Loop the Publisher cannot send.
var ErrBadLoop = errors.New("client: unusable media loop")

// validate checks that every stream starts with a keyframe and holds no empty frames.
func (l *Loop) validate(simulcast bool) error {
	streams := [][]Frame{l.Video}
	if simulcast {
		if len(l.Layers) != len(SimulcastRIDs) {
			return fmt.Errorf("%w: simulcast needs %d layers, got %d", ErrBadLoop, len(SimulcastRIDs), len(l.Layers))
		}
		streams = l.Layers
	}
	for i, s := range streams {
		if len(s) == 0 || !s[0].Key {
			return fmt.Errorf("%w: video stream %d is empty or does not start with a keyframe", ErrBadLoop, i)
		}
		for _, f := range s {
			if len(f.Data) == 0 {
				return fmt.Errorf("%w: video stream %d has an empty frame", ErrBadLoop, i)
			}
		}
	}
	return nil
}

// VP8Frames reads a VP8 IVF file (as ffmpeg writes it) into frames, keyframes marked.
func VP8Frames(path string) ([]Frame, error) {
	// VP8 frame tag (RFC 6386 §9.1): bit 0 of the first byte is 0 on keyframes.
	return ivfFrames(path, "VP80", func(f []byte) bool { return f[0]&0x01 == 0 })
}

// H264Frames reads an H.264 IVF file (fourcc H264, one Annex-B access unit a record, as
// internal/testmedia writes it) into frames, IDRs marked as keyframes. Only a simulcast
// Publisher sends H.264 loops.
func H264Frames(path string) ([]Frame, error) {
	return ivfFrames(path, "H264", func(f []byte) bool {
		for _, n := range splitNALs(f) {
			if len(n) > 0 && n[0]&0x1f == 5 {
				return true
			}
		}
		return false
	})
}

// H264SimulcastLoop is a simulcast Loop of H.264 IVF files, one per SimulcastRIDs entry (lowest
// quality first), and an Ogg Opus file.
func H264SimulcastLoop(layers []string, audio string) (*Loop, error) {
	l := &Loop{}
	for _, path := range layers {
		frames, err := H264Frames(path)
		if err != nil {
			return nil, err
		}
		l.Layers = append(l.Layers, frames)
	}
	var err error
	if l.Audio, err = OpusPackets(audio); err != nil {
		return nil, err
	}
	return l, l.validate(true)
}

func ivfFrames(path, want string, key func([]byte) bool) ([]Frame, error) {
	fourcc, samples, err := readIVF(path)
	if err != nil {
		return nil, err
	}
	if fourcc != want {
		return nil, fmt.Errorf("%w: %s is %q, not %s", ErrBadLoop, path, fourcc, want)
	}
	out := make([]Frame, 0, len(samples))
	for _, s := range samples {
		if len(s.data) > 0 {
			out = append(out, Frame{Data: s.data, Key: key(s.data)})
		}
	}
	return out, nil
}

// OpusPackets reads an Ogg Opus file with one 20 ms packet per page (ffmpeg -c:a libopus
// -page_duration 20000).
func OpusPackets(path string) ([][]byte, error) {
	s, err := readOgg(path)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = s[i].data
	}
	return out, nil
}

// loopCursor walks one stream of a Loop.
type loopCursor struct {
	frames []Frame
	i      int
}

// next returns the frame to send now; key (a keyframe was requested) skips ahead to the next
// keyframe, wrapping around the loop's end.
func (c *loopCursor) next(key bool) Frame {
	if key {
		for j := range c.frames {
			if k := (c.i + j) % len(c.frames); c.frames[k].Key {
				c.i = k
				break
			}
		}
	}
	f := c.frames[c.i]
	c.i = (c.i + 1) % len(c.frames)
	return f
}

// The send-time stamp: a trailer after the end of a video frame, 8 bytes of Unix nanoseconds
// (big endian) then the 4-byte magic. Decoders stop at the end of the frame's last partition
// and never read it (VP8's boolean decoder only looks at the bits it needs), so a stamped real
// frame still decodes; a Viewer with OnLatency finds it at the end of a frame's last packet.
const (
	stampMagic = "rcT0"
	stampLen   = 8 + len(stampMagic)
)

// stamped returns frame with the send time t appended.
func stamped(frame []byte, t time.Time) []byte {
	out := make([]byte, len(frame)+stampLen)
	copy(out, frame)
	binary.BigEndian.PutUint64(out[len(frame):], uint64(t.UnixNano()))
	copy(out[len(frame)+8:], stampMagic)
	return out
}

// readStamp finds the send time at the end of a frame's last packet payload (after its VP8
// payload descriptor).
func readStamp(data []byte) (time.Time, bool) {
	if len(data) < stampLen || string(data[len(data)-len(stampMagic):]) != stampMagic {
		return time.Time{}, false
	}
	ns := int64(binary.BigEndian.Uint64(data[len(data)-stampLen:]))
	return time.Unix(0, ns), true
}

// latencyOf is the publisher → viewer latency of a stamped last packet payload, if plausible.
func latencyOf(data []byte) (time.Duration, bool) {
	sent, ok := readStamp(data)
	if !ok {
		return 0, false
	}
	d := time.Since(sent)
	return d, d >= 0 && d < 10*time.Second
}

// pacer counts the frames due on a fixed clock: a loaded machine's ticker drops ticks, and the
// stream must still carry its rate. More than maxBurst behind, the rest is skipped (no bursts).
type pacer struct {
	t0     time.Time
	period time.Duration
	sent   int64
}

const maxBurst = 3

// due is the number of frames to send now.
func (p *pacer) due() int {
	n := int64(time.Since(p.t0)/p.period) + 1 - p.sent
	if n > maxBurst {
		p.sent += n - maxBurst
		n = maxBurst
	}
	if n < 0 {
		n = 0
	}
	p.sent += n
	return int(n)
}
