// Package livehls is the live Low-Latency HLS output of a room (RFC 8216bis, Apple's LL-HLS):
// fMP4 (CMAF) init sections, partial segments of ~1/3 s, segments cut at keyframes, the media
// and multivariant playlists with EXT-X-PRELOAD-HINT, blocking reload (_HLS_msn/_HLS_part),
// delta updates (_HLS_skip) and EXT-X-RENDITION-REPORT, and the HTTP side that serves them with
// CDN-correct caching and bounded blocking requests.
//
// It knows nothing of RTP, WebRTC or ffmpeg: a source (the room's sink, wired in package
// server) hands it H.264 access units and AAC frames on one media timeline per stream.
//
// This file holds the agreed configuration types; the stream and variant writers are in
// stream.go and variant.go, the HTTP side in server.go and serve.go (URLs, caching and status
// codes: docs/LLHLS.md, "The packager and the playlists").
package livehls

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
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
	// Logger (added by the packager). Default slog.Default().
	Logger *slog.Logger
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
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
	// RequestKeyframe (added by the packager; optional) is called, outside the stream's lock,
	// when the segment being built is one part target short of SegmentTarget and has had no
	// keyframe to close on, and again every SegmentTarget of media while none comes: a WebRTC
	// source sends a PLI, so segments stay near SegmentTarget with encoders that make keyframes
	// only on request.
	RequestKeyframe func()
}

// AudioParams describes the AAC audio shared by every variant of a stream.
type AudioParams struct {
	SampleRate int
	Channels   int
	// Config is the AudioSpecificConfig (ISO/IEC 14496-3), as in the esds box.
	Config []byte
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
	// Logger (added by the packager). Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultPartTarget    = 333 * time.Millisecond
	defaultSegmentTarget = 2 * time.Second
	defaultWindow        = 5 * time.Minute
	defaultMaxBytes      = 256 << 20
	defaultPerClient     = 16
	defaultMaxBlocking   = 50000
	defaultLinger        = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.PartTarget <= 0 {
		c.PartTarget = defaultPartTarget
	}
	if c.SegmentTarget <= 0 {
		c.SegmentTarget = defaultSegmentTarget
	}
	if c.SegmentTarget < c.PartTarget {
		c.SegmentTarget = c.PartTarget
	}
	if c.Window <= 0 {
		c.Window = defaultWindow
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxBlockingPerClient <= 0 {
		c.MaxBlockingPerClient = defaultPerClient
	}
	if c.MaxBlocking <= 0 {
		c.MaxBlocking = defaultMaxBlocking
	}
	if c.ClientKey == nil {
		c.ClientKey = remoteHost
	}
	if c.Linger <= 0 {
		c.Linger = defaultLinger
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// remoteHost is the default ClientKey: the host of r.RemoteAddr (no allocation).
func remoteHost(r *http.Request) string {
	a := r.RemoteAddr
	if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.HasSuffix(a, "]") {
		a = a[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
}
