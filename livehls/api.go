// Package livehls is the live Low-Latency HLS output of a room (RFC 8216bis, Apple's LL-HLS):
// fMP4 (CMAF) init sections, partial segments of ~1/3 s, segments cut at keyframes, the media
// and multivariant playlists with EXT-X-PRELOAD-HINT, blocking reload (_HLS_msn/_HLS_part),
// delta updates (_HLS_skip) and EXT-X-RENDITION-REPORT, and the HTTP side that serves them with
// CDN-correct caching and bounded blocking requests.
//
// It knows nothing of RTP, WebRTC or ffmpeg: a source (the room's sink, wired in package
// server) hands it H.264 access units and AAC frames on one media timeline per stream.
//
// THIS FILE IS THE AGREED API (written before the implementation so the source and the pages
// could be built at the same time). Its bodies are placeholders until the packager lands.
package livehls

import (
	"errors"
	"net/http"
	"time"
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
	// it (EXT-X-TARGETDURATION is the longest segment so far, rounded up). Default 2s.
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
	cfg Config
}

// NewStream makes a stream whose media time 0 is cfg.Now() at this call.
func NewStream(cfg Config) *Stream { return &Stream{cfg: cfg} }

// Epoch is the wall-clock time of media time 0.
func (s *Stream) Epoch() time.Time { return time.Time{} }

// AddVariant adds a rendition. Variants added after media started begin at the next segment.
func (s *Stream) AddVariant(p VariantParams) (*Variant, error) { return &Variant{}, nil }

// SetAudio declares the stream's audio (before the first WriteAAC; a change of parameters
// starts new segments with a discontinuity and a new init section). A stream whose SetAudio
// is never called is video only.
func (s *Stream) SetAudio(p AudioParams) error { return nil }

// WriteAAC adds raw AAC access units (no ADTS header), each 1024 samples, the first at pts on
// the stream's media timeline; every variant gets them.
func (s *Stream) WriteAAC(pts time.Duration, frames [][]byte) error { return nil }

// Discontinuity makes the next segment of every variant start with EXT-X-DISCONTINUITY (the
// publisher reconnected, changed resolution, the transcoder restarted). Media time keeps going.
func (s *Stream) Discontinuity() {}

// End marks the show over: the playlists get EXT-X-ENDLIST, blocked requests are answered, and
// writes fail with ErrClosed. The media stays servable until the Server removes the stream.
func (s *Stream) End() {}

// Variant is one rendition's writer.
type Variant struct{}

// WriteH264 adds one access unit: NAL units without start codes, in decoding order, pts/dts on
// the stream's media timeline. SPS and PPS come in band before an IDR (or were seen before); a
// new SPS with another resolution starts a new segment with a new init section. Until the first
// IDR, access units are dropped.
func (v *Variant) WriteH264(pts, dts time.Duration, nalus [][]byte) error { return nil }

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

// Server holds the live streams of a node's rooms and serves them under /live/:
//
//	GET /live/{room}/index.m3u8            multivariant playlist (the contract URL)
//	GET /live/{room}/{variant}/…           media playlist, init section, segments, parts
type Server struct {
	cfg ServerConfig
}

// NewServer makes an empty server.
func NewServer(cfg ServerConfig) *Server { return &Server{cfg: cfg} }

// Open returns the room's stream: the one still lingering after its publisher left (the caller
// then calls Discontinuity and goes on writing), or a new one made with cfg.
func (s *Server) Open(room string, cfg Config) *Stream { return NewStream(cfg) }

// Stream returns the room's stream if there is one (live or lingering).
func (s *Server) Stream(room string) (*Stream, bool) { return nil, false }

// Ended tells the server that st, the room's stream, ended (st.End is called): it stays
// servable for Linger, then is removed unless Open took it up again.
func (s *Server) Ended(room string, st *Stream) {}

// ServeHTTP serves /live/… (mount it at "/live/").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, `{"error":"live HLS is not built yet"}`, http.StatusNotImplemented)
}

// Close ends every stream and answers every blocked request.
func (s *Server) Close() error { return nil }
