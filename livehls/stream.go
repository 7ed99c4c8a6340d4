package livehls

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// aacFrameSamples is the number of samples of one AAC access unit.
const aacFrameSamples = 1024

// audioKeep bounds the audio the stream buffers for variants that have not muxed it yet.
const audioKeep = 10 * time.Second

// Stream is one live room's LL-HLS output: its variants, one media timeline, one window.
// Media time 0 is Epoch(); EXT-X-PROGRAM-DATE-TIME of a segment is Epoch() + its first PTS, so a
// page can match what it shows with the room's events (server time). Safe for concurrent use.
type Stream struct {
	cfg   Config
	epoch time.Time
	// id names this stream instance in media URIs (/live/{room}/{variant}/{id}/…), so a
	// room that is opened again never serves bytes a CDN cached for an earlier stream.
	id string

	mu       sync.Mutex
	variants []*Variant // in order of AddVariant
	ended    bool
	closed   bool // removed from the server: waiters answer at once
	// changed is closed (and replaced) on every change of any variant: the one broadcast
	// that wakes every blocked request of the stream.
	changed chan struct{}
	gen     uint64 // bumped with changed; playlist caches compare against it

	audio    *audioTrack // nil: video only
	audioGen int         // bumped by every SetAudio
	aframes  []aframe    // buffered AAC, oldest first
	audioEnd time.Duration

	mv cached // the multivariant playlist
}

type audioTrack struct {
	gen    int
	rate   int
	config mpeg4audio.AudioSpecificConfig
	codec  string // mp4a.40.N
}

type aframe struct {
	pts  time.Duration
	gen  int
	data []byte
}

// cached is a rendered playlist and its Content-Length, valid for one stream generation.
type cached struct {
	gen  uint64
	ok   bool
	body []byte
	clen []string
}

// NewStream makes a stream whose media time 0 is cfg.Now() at this call.
func NewStream(cfg Config) *Stream {
	cfg = cfg.withDefaults()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Stream{cfg: cfg, epoch: cfg.Now(), id: hex.EncodeToString(b[:]), changed: make(chan struct{})}
}

// Epoch is the wall-clock time of media time 0.
func (s *Stream) Epoch() time.Time { return s.epoch }

// ID is the stream instance's id, the path element of its media URIs (added by the packager).
func (s *Stream) ID() string { return s.id }

// AddVariant adds a rendition. Variants added after media started begin at the next segment.
func (s *Stream) AddVariant(p VariantParams) (*Variant, error) {
	if !validName(p.Name, 32) {
		return nil, fmt.Errorf("%w: variant name %q (1-32 of A-Z a-z 0-9 _ -)", ErrBadInput, p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, ErrClosed
	}
	for _, v := range s.variants {
		if v.p.Name == p.Name {
			return nil, fmt.Errorf("%w: %s", ErrExists, p.Name)
		}
	}
	v := &Variant{st: s, p: p}
	// Line the new rendition's media sequence up with the others (same time, same MSN as
	// near as we can) so players switching renditions land close to where they were.
	for _, o := range s.variants {
		if n := o.nextMSN(); n > v.msn {
			v.msn = n
		}
		if o.discSeq > v.discSeq {
			v.discSeq = o.discSeq
		}
	}
	s.variants = append(s.variants, v)
	s.bumpLocked()
	return v, nil
}

// Variant returns the named rendition (added by the packager: a publisher that comes back to a
// lingering stream finds its variants here instead of adding them again).
func (s *Stream) Variant(name string) (*Variant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.variantLocked(name)
	return v, v != nil
}

// SetAudio declares the stream's audio (before the first WriteAAC; a change of parameters
// starts new segments with a discontinuity and a new init section). A stream whose SetAudio
// is never called is video only.
func (s *Stream) SetAudio(p AudioParams) error {
	var asc mpeg4audio.AudioSpecificConfig
	if len(p.Config) > 0 {
		if err := asc.Unmarshal(p.Config); err != nil {
			return fmt.Errorf("%w: AudioSpecificConfig: %v", ErrBadInput, err)
		}
	} else {
		if p.SampleRate <= 0 || p.Channels <= 0 || p.Channels > 8 {
			return fmt.Errorf("%w: audio needs a sample rate and 1-8 channels", ErrBadInput)
		}
		asc = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: p.SampleRate, ChannelCount: p.Channels}
	}
	if asc.SampleRate <= 0 || asc.ChannelCount <= 0 {
		return fmt.Errorf("%w: audio config without sample rate or channels", ErrBadInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ErrClosed
	}
	if a := s.audio; a != nil && a.config == asc {
		return nil
	}
	s.audioGen++
	s.audio = &audioTrack{gen: s.audioGen, rate: asc.SampleRate, config: asc,
		codec: fmt.Sprintf("mp4a.40.%d", int(asc.Type))}
	s.aframes = s.aframes[:0]
	for _, v := range s.variants {
		if v.started {
			v.reinit = true // new init (with the new audio) and a discontinuity at the next keyframe
		}
	}
	s.bumpLocked()
	return nil
}

// WriteAAC adds raw AAC access units (no ADTS header), each 1024 samples, the first at pts on
// the stream's media timeline; every variant gets them.
func (s *Stream) WriteAAC(pts time.Duration, frames [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ErrClosed
	}
	if s.audio == nil {
		return fmt.Errorf("%w: WriteAAC before SetAudio", ErrBadInput)
	}
	if pts < 0 {
		return fmt.Errorf("%w: negative audio pts", ErrBadInput)
	}
	fd := s.audioFrameDur()
	for i, f := range frames {
		if len(f) == 0 {
			return fmt.Errorf("%w: empty AAC frame", ErrBadInput)
		}
		p := pts + time.Duration(i)*fd
		if p < s.audioEnd-fd/2 {
			continue // overlaps what we have: drop (a restarted encoder's rewind)
		}
		s.aframes = append(s.aframes, aframe{pts: p, gen: s.audio.gen, data: append([]byte(nil), f...)})
		s.audioEnd = p + fd
	}
	s.trimAudioLocked()
	changed := false
	for _, v := range s.variants {
		if v.flush(false) {
			changed = true
		}
	}
	if changed {
		s.bumpLocked()
	}
	return nil
}

func (s *Stream) audioFrameDur() time.Duration {
	if s.audio == nil {
		return 0
	}
	return time.Duration(aacFrameSamples) * time.Second / time.Duration(s.audio.rate)
}

// takeAudio returns the buffered frames of the current audio with from <= pts < to.
func (s *Stream) takeAudio(from, to time.Duration, gen int) []aframe {
	i := sort.Search(len(s.aframes), func(i int) bool { return s.aframes[i].pts >= from })
	j := i
	for j < len(s.aframes) && s.aframes[j].pts < to {
		j++
	}
	out := make([]aframe, 0, j-i)
	for _, f := range s.aframes[i:j] {
		if f.gen == gen {
			out = append(out, f)
		}
	}
	return out
}

// trimAudioLocked drops audio every started variant has muxed, and anything older than audioKeep.
func (s *Stream) trimAudioLocked() {
	if len(s.aframes) == 0 {
		return
	}
	low := s.audioEnd - audioKeep
	minCursor := time.Duration(-1)
	for _, v := range s.variants {
		if v.started && (minCursor < 0 || v.aCursor < minCursor) {
			minCursor = v.aCursor
		}
	}
	if minCursor > low {
		low = minCursor
	}
	n := 0
	for n < len(s.aframes) && s.aframes[n].pts+s.audioFrameDur() <= low {
		n++
	}
	if n > 0 {
		s.aframes = append(s.aframes[:0], s.aframes[n:]...)
	}
}

// Discontinuity makes the next segment of every variant start with EXT-X-DISCONTINUITY (the
// publisher reconnected, changed resolution, the transcoder restarted). Media time keeps going.
func (s *Stream) Discontinuity() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.variants {
		if v.started {
			v.discPending = true
		}
	}
}

// End marks the show over: the playlists get EXT-X-ENDLIST, blocked requests are answered, and
// writes fail with ErrClosed. The media stays servable until the Server removes the stream.
func (s *Stream) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	for _, v := range s.variants {
		v.finish()
	}
	s.ended = true
	s.bumpLocked()
}

// reopen takes an ended (lingering) stream up again: the publisher is back.
func (s *Stream) reopen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended || s.closed {
		return
	}
	s.ended = false
	for _, v := range s.variants {
		if v.started {
			v.discPending = true
		}
	}
	s.bumpLocked()
}

// close ends the stream and makes every waiter answer at once (the server removed it).
func (s *Stream) close() {
	s.End()
	s.mu.Lock()
	s.closed = true
	s.bumpLocked()
	s.mu.Unlock()
}

// bumpLocked wakes every blocked request of the stream and invalidates the playlist caches.
func (s *Stream) bumpLocked() {
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
}

// variant returns the named variant (s.mu held).
func (s *Stream) variantLocked(name string) *Variant {
	for _, v := range s.variants {
		if v.p.Name == name {
			return v
		}
	}
	return nil
}

// validName: 1-max characters of A-Z a-z 0-9 _ -, starting with a letter or digit.
func validName(n string, max int) bool {
	if len(n) == 0 || len(n) > max {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
