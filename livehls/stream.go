package livehls

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Defaults of Config.
const (
	DefaultPartTarget    = 333 * time.Millisecond
	DefaultSegmentTarget = 2 * time.Second
	DefaultWindow        = 5 * time.Minute
	DefaultMaxBytes      = 256 << 20
	// maxSegmentFactor: a segment that got no keyframe for this many segment targets is cut
	// anyway (its first part is then not independent), so that TARGETDURATION holds.
	maxSegmentFactor = 3
)

func (c Config) withDefaults() Config {
	if c.PartTarget <= 0 {
		c.PartTarget = DefaultPartTarget
	}
	if c.SegmentTarget <= 0 {
		c.SegmentTarget = DefaultSegmentTarget
	}
	if c.SegmentTarget < 2*c.PartTarget {
		c.SegmentTarget = 2 * c.PartTarget
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// targetDuration is EXT-X-TARGETDURATION (whole seconds): the longest a segment can be.
func (c Config) targetDuration() int {
	return int((maxSegmentFactor*c.SegmentTarget + time.Second - 1) / time.Second)
}

// state is what a Stream's variants share, under Stream.mu.
type state struct {
	// changed is closed (and replaced) whenever a variant's playlist changes: the blocked
	// requests wake up, look, and wait again on the new channel if they must.
	changed chan struct{}
	ended   bool
}

func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// baseMSN is the first media sequence number of a new stream: from the wall clock (4 a second
// since 2023-11), so that a room's later stream never reuses the MSNs — the blocking-reload URLs
// a CDN may have cached — of an earlier one (segments are longer than a quarter second), and it
// stays below 2^31 for players that read it as a 32-bit number (until about 2040).
func baseMSN(now time.Time) uint64 {
	return uint64(max(now.Unix()-1_700_000_000, 0)) * 4
}

// broadcast wakes every blocked request (s.mu held).
func (s *Stream) broadcast() {
	close(s.st.changed)
	s.st.changed = make(chan struct{})
}

// aacFrame is one AAC access unit waiting for its part.
type aacFrame struct {
	pts  time.Duration
	data []byte
}

// parseAudio checks an AudioSpecificConfig.
func parseAudio(p AudioParams) (mpeg4audio.AudioSpecificConfig, error) {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(p.Config); err != nil {
		return asc, fmt.Errorf("%w: AudioSpecificConfig: %v", ErrBadInput, err)
	}
	if asc.SampleRate <= 0 {
		return asc, fmt.Errorf("%w: no sample rate", ErrBadInput)
	}
	return asc, nil
}

// naluType is the type of an H.264 NAL unit.
func naluType(n []byte) h264.NALUType { return h264.NALUType(n[0] & 0x1f) }

// renderAll renders every variant's playlists (s.mu held).
func (s *Stream) renderAll() {
	for _, v := range s.variants {
		v.render()
	}
}

// validName: a room or variant path element (letters, digits, '-', '_'; 1..64).
func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
