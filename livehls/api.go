// Package livehls is the live Low-Latency HLS output of a room (RFC 8216bis, Apple's LL-HLS):
// fMP4 (CMAF) init sections, partial segments of ~1/3 s, segments cut at keyframes, the media
// and multivariant playlists with EXT-X-PRELOAD-HINT, blocking reload (_HLS_msn/_HLS_part),
// delta updates (_HLS_skip) and EXT-X-RENDITION-REPORT, and the HTTP side that serves them with
// CDN-correct caching and bounded blocking requests.
//
// It knows nothing of RTP, WebRTC or ffmpeg: a source (the room's sink, package hlsfeed) hands
// it H.264 access units and AAC frames on one media timeline per stream.
//
// The API (this file) was agreed before the implementation so that the source and the pages
// could be built at the same time; stream.go, variant.go, mux.go, playlist.go and server.go
// implement it.
package livehls

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Errors.
var (
	// ErrClosed: the stream ended (End) or was removed.
	ErrClosed = errors.New("livehls: stream closed")
	// ErrBadInput: an access unit or frame that cannot be packaged (no SPS/PPS before the
	// first IDR, timestamps going backwards beyond repair, empty).
	ErrBadInput = errors.New("livehls: bad input")
	// ErrExists: a variant of that name is already in the stream.
	ErrExists = errors.New("livehls: variant exists")
)

// Config shapes one stream's segments and its rewind window. Zero fields take the defaults.
type Config struct {
	// PartTarget is the partial segment target (EXT-X-PART-INF PART-TARGET). Default 333ms.
	PartTarget time.Duration
	// SegmentTarget is the shortest segment: a segment closes at the first keyframe at or after
	// it (EXT-X-TARGETDURATION is 3× it, rounded up: a segment without a keyframe for that long
	// is cut anyway). Default 2s.
	SegmentTarget time.Duration
	// Window is how much of the show the live playlist keeps (the rewind window). Default 5m.
	Window time.Duration
	// MaxBytes caps the media kept in memory per stream; the oldest segments leave first (and
	// the playlist's window shrinks). Default 256 MiB.
	MaxBytes int64
	// Now is the wall clock (tests replace it). Default time.Now.
	Now func() time.Time
}

// VariantParams describes one rendition of a stream (one media playlist; video with the
// stream's audio muxed in the same fMP4).
type VariantParams struct {
	// Name is the rendition's path element: /live/{room}/{Name}/… Letters, digits, '-', '_'.
	Name string
	// Bandwidth is the peak bit rate (BANDWIDTH in the multivariant playlist), bits/s.
	Bandwidth int
	// Width and Height (RESOLUTION); 0 when unknown (then taken from the SPS).
	Width, Height int
	// RequestKeyframe, when set, is called (from its own goroutine, once per segment) when a
	// segment reached SegmentTarget without a keyframe to close it: an encoder that makes
	// keyframes only on request (a browser's) is asked for one.
	RequestKeyframe func()
}

// AudioParams describes the AAC audio shared by every variant of a stream.
type AudioParams struct {
	SampleRate int
	Channels   int
	// Config is the AudioSpecificConfig (ISO/IEC 14496-3), as in the esds box.
	Config []byte
}

// Stream is one live room's LL-HLS output: its variants, one media timeline, one window.
// Media time 0 is Epoch(); EXT-X-PROGRAM-DATE-TIME of a segment is Epoch() + its first PTS, so a
// page can match what it shows with the room's events (server time). Safe for concurrent use.
type Stream struct {
	cfg   Config
	epoch time.Time
	id    string // in every media URI: a later stream of the room never reuses one

	mu       sync.Mutex
	st       state
	variants []*Variant
	audio    *audioTrack
}

// audioTrack is the stream's AAC, as SetAudio declared it.
type audioTrack struct {
	p    AudioParams
	asc  mpeg4audio.AudioSpecificConfig
	gen  int // SetAudio calls with new parameters: a new one means a new init section
	rate int
}

// NewStream makes a stream whose media time 0 is cfg.Now() at this call.
func NewStream(cfg Config) *Stream {
	cfg = cfg.withDefaults()
	return &Stream{cfg: cfg, epoch: cfg.Now(), id: newID(), st: state{changed: make(chan struct{})}}
}

// Epoch is the wall-clock time of media time 0.
func (s *Stream) Epoch() time.Time { return s.epoch }

// AddVariant adds a rendition. Variants added after media started begin at the next segment.
func (s *Stream) AddVariant(p VariantParams) (*Variant, error) {
	if !validName(p.Name) {
		return nil, fmt.Errorf("%w: variant name %q (letters, digits, '-', '_', 1..32)", ErrBadInput, p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ended {
		return nil, ErrClosed
	}
	for _, v := range s.variants {
		if v.p.Name == p.Name {
			return nil, fmt.Errorf("%w: %q", ErrExists, p.Name)
		}
	}
	v := newVariant(s, p)
	s.variants = append(s.variants, v)
	return v, nil
}

// SetAudio declares the stream's audio (before the first WriteAAC; a change of parameters
// starts new segments with a discontinuity and a new init section). A stream whose SetAudio
// is never called is video only.
func (s *Stream) SetAudio(p AudioParams) error {
	asc, err := parseAudio(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ended {
		return ErrClosed
	}
	if s.audio != nil && string(s.audio.p.Config) == string(p.Config) {
		return nil
	}
	gen := 1
	if s.audio != nil {
		gen = s.audio.gen + 1
		for _, v := range s.variants {
			v.disc = true
		}
	} else {
		// The audio is declared after the video began (its transcoder answers later than the
		// first keyframe): the few audio-less segments go, and each variant starts again at its
		// next keyframe with the audio in its init section — players never see a track appear.
		for _, v := range s.variants {
			v.restart()
		}
	}
	s.audio = &audioTrack{p: AudioParams{SampleRate: p.SampleRate, Channels: p.Channels, Config: append([]byte(nil), p.Config...)},
		asc: asc, gen: gen, rate: asc.SampleRate}
	return nil
}

// WriteAAC adds raw AAC access units (no ADTS header), each 1024 samples, the first at pts on
// the stream's media timeline; every variant gets them.
func (s *Stream) WriteAAC(pts time.Duration, frames [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ended {
		return ErrClosed
	}
	if s.audio == nil {
		return fmt.Errorf("%w: WriteAAC before SetAudio", ErrBadInput)
	}
	step := time.Duration(1024) * time.Second / time.Duration(s.audio.rate)
	for i, f := range frames {
		if len(f) == 0 {
			continue
		}
		fr := aacFrame{pts: pts + time.Duration(i)*step, data: append([]byte(nil), f...)}
		for _, v := range s.variants {
			v.pushAudio(fr)
		}
	}
	return nil
}

// Discontinuity makes the next segment of every variant start with EXT-X-DISCONTINUITY (the
// publisher reconnected, changed resolution, the transcoder restarted). Media time keeps going.
func (s *Stream) Discontinuity() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.variants {
		v.disc = true
	}
}

// End marks the show over: the playlists get EXT-X-ENDLIST, blocked requests are answered, and
// writes fail with ErrClosed. The media stays servable until the Server removes the stream.
func (s *Stream) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ended {
		return
	}
	s.st.ended = true
	for _, v := range s.variants {
		v.finish()
	}
	s.renderAll()
	s.broadcast()
}

// reopen takes an ended stream up again (Server.Open within the linger): writes work again,
// and every variant's next segment starts a discontinuity.
func (s *Stream) reopen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.st.ended {
		return
	}
	s.st.ended = false
	for _, v := range s.variants {
		v.disc = true
	}
	s.renderAll()
	s.broadcast()
}

// ServerConfig bounds what viewers can hold. Zero fields take the defaults.
type ServerConfig struct {
	// MaxBlockingPerClient caps the blocking playlist/part requests one client (ClientKey) holds
	// at once; more get 429 with Retry-After. Default 16.
	MaxBlockingPerClient int
	// MaxBlocking caps blocking requests held in total. Default 50000.
	MaxBlocking int
	// ClientKey names the client of a request (default: the remote address's host).
	ClientKey func(*http.Request) string
	// Linger is how long an ended stream stays servable (ENDLIST) and re-openable: a publisher
	// back within it continues the same playlist after a discontinuity. Default 30s.
	Linger time.Duration
	// Fallback serves requests for rooms this server has no stream of (the cluster proxies them
	// to the room's owner); nil answers 404 with a JSON error.
	Fallback http.Handler
	// Now is the wall clock (tests). Default time.Now.
	Now func() time.Time
}
