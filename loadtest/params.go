package loadtest

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Publisher kinds.
const (
	PublisherSynthetic = "synthetic" // Pion publisher in this process: a 2 s VP8 + Opus loop encoded at start (media.go), frames stamped with send time
	PublisherBrowser   = "browser"   // headless Chromium on /broadcast/{room}?source=clock: a painted clock
	PublisherNone      = "none"      // someone else publishes; the harness only watches
	PublisherFile      = "file"      // Pion publisher in this process streaming real media files (IVF VP8/VP9/AV1/H.264 or raw H.264 + Ogg Opus), looped
)

// Canvases the browser publisher paints (the broadcast page's source= parameter).
const (
	SourceClock = "clock" // 640×360 clock, one layer: simple picture, the encoder undershoots its cap
	SourceNoise = "noise" // 1280×720 noise under the clock strip, simulcast: fills its target
)

// Synthetic viewer kinds: full Pion viewers, or lean ones that count SRTP below Pion (far
// cheaper for the generator; the server does the same work for both, minus their RTCP), and
// ViewerLeanRTCP (rtcp.go): lean ones that send RTCP as Chromium does.
const (
	ViewerFull = "full"
	ViewerLean = "lean"
)

// Signaling kinds for synthetic viewers.
const (
	SignalingWHEP = "whep"
	SignalingWS   = "ws"
)

// Params configures one load run. Zero values take the documented defaults (see withDefaults).
type Params struct {
	URL   string // server base URL, e.g. http://127.0.0.1:8080 (required)
	Room  string // room to publish to / watch (required)
	Token string // publish token (required unless Publisher is none); also the viewers' token when ViewerToken is empty

	ViewerToken string // token for viewers (only needed with --viewer-auth); default Token

	// BrowserViewerMode is how browser viewers watch: webrtc (default) or hls (?mode=hls, llhls.go).
	BrowserViewerMode string

	Viewers int // synthetic viewers (Pion, in this process), in all rooms
	// Rooms is the number of rooms (rooms.go): Room-1 … Room-N, each with its own publisher, the
	// viewers spread over them; ViewersPerRoom M sets Viewers to Rooms × M. Default 1 (Room).
	Rooms          int
	ViewersPerRoom int
	// HLSViewers read the room's live LL-HLS like hls.js in low-latency mode (hlsviewers.go).
	HLSViewers     int
	BrowserViewers int           // headless Chromium tabs on the watch page
	Duration       time.Duration // hold time once every viewer joined (default 30s)
	Ramp           float64       // viewers started per second; 0 = default 50/s
	Warmup         time.Duration // publisher warm-up before viewers join (default 2s synthetic, 10s browser: BWE ramp)
	Publisher      string        // synthetic (default) | browser | none
	// PublisherSource is the broadcast page's canvas for --publisher browser: clock (default,
	// 640×360, one layer) or noise (1280×720 noise under the clock strip, three simulcast layers).
	PublisherSource string
	PublisherQuery  string        // extra query for the broadcast page, e.g. "simulcast=0"
	Bitrate         int           // synthetic publisher video bits/s (default 1.5 Mbps)
	FFmpegPath      string        // synthetic publisher: the ffmpeg that encodes its loop (default "ffmpeg" on PATH)
	VideoFile       string        // --publisher file: IVF video (VP8, VP9, AV1, H.264) or H.264 Annex-B (.h264, 30 fps)
	AudioFile       string        // --publisher file: Ogg Opus audio (one packet per page)
	Signaling       string        // synthetic viewers: whep (default) | ws
	ViewerKind      string        // synthetic viewers: full (default: Pion receives and decrypts everything) | lean (client.ViewerParams.Lean) | lean-rtcp (+ LeanRTCP)
	MaxInFlight     int           // concurrent viewer joins (default 32)
	JoinTimeout     time.Duration // per-viewer join timeout (default 20s)
	Interval        time.Duration // sampling / progress interval (default 1s)

	ChromiumPath   string // default /usr/bin/chromium
	TabsPerBrowser int    // browser viewers per Chromium process (default 4)
	ServerPID      int    // when the server is local: cross-check CPU/RSS with /proc/<pid>

	Thresholds Thresholds

	Progress io.Writer    // live progress lines (nil: none)
	Logger   *slog.Logger // nil: discard

	Simulcast bool   // synthetic publisher: three RID layers, Bitrate the top one (simulcast.go)
	Quality   string // synthetic viewers' layer choice: auto (default) | high | medium | low | a mix "high:60,medium:30,low:10"
	LeanNoGRO bool   // lean viewers: no UDP GRO on their sockets (client.ViewerParams.LeanNoGRO), for A/B
	// LeanDropEvery: lean-rtcp viewers treat every Nth new video packet as lost and NACK it
	// (client.ViewerParams.LeanDropEvery; 0: none). Loss counts only what never came back.
	LeanDropEvery int

	// The live scenario (live.go): /ws sockets of the live family in Room, run during the hold.
	Bidders     int                               // sockets with a bid token (distinct subjects) bidding on one lot
	Chatters    int                               // sockets with a chat token chatting
	ChatRate    float64                           // chat messages per second, all chatters (default one per chatter per second)
	LiveViewers int                               // guest sockets that only join and receive
	BidRate     float64                           // bids per second, all bidders (default 1000 with bidders)
	LotDuration time.Duration                     // the lot's duration (default Duration + 60s: the harness ends it)
	Stalled     int                               // guest sockets that join and never read again
	SellerToken string                            // publish token for the lot (default: minted)
	Mint        func(MintRequest) (string, error) // mints the bidders', chatters' (and seller's) tokens
}

// Thresholds are pass/fail limits. A zero field takes its default (DefaultThresholds, so that
// PASS means the show was watchable); a negative one is not checked. A defaulted figure that
// the run could not measure (e.g. glass-to-glass without the browser publisher) is listed as
// n/a and does not fail the run; a limit set explicitly that the run can never measure is
// refused by Validate, and one whose figure is missing at the end fails, so a CI gate that
// cannot see its figure never passes silently.
type Thresholds struct {
	MaxLossPct          float64       // synthetic + browser video loss in the hold window, percent
	MaxG2GP95           time.Duration // browser glass-to-glass p95 (needs --publisher browser)
	MaxLatencyP99       time.Duration // synthetic publisher → viewer latency p99
	MaxFirstKeyframeP95 time.Duration // synthetic viewers: offer sent → first keyframe, p95
	MaxFirstFrameP95    time.Duration // browser viewers: page load → first decoded frame, p95
	MaxJitterBufferP95  time.Duration // browser: per-frame jitter buffer + processing delay, p95 over viewers
	MaxServerCPU        float64       // server cores in the hold window (mean); no default
	MinConnectedPct     float64       // viewers that must have joined (synthetic) or play (browser), percent
	// MaxFreezes is the browser freezes allowed in the hold window, all viewers together, when
	// CheckFreezes; otherwise the default is one per browser viewer (MaxFreezes < 0: unchecked).
	MaxFreezes   int
	CheckFreezes bool

	MaxBidP95   time.Duration // live: bid → accepted bid_result p95
	MaxPriceP95 time.Duration // live: new price (bid event) on viewer sockets p95
	MaxChatP95  time.Duration // live: chat send → viewer socket p95

	defaulted map[string]bool // checks whose limit is a default (withDefaults)
}

// DefaultThresholds are the limits of a watchable show on one box, used for every zero field.
var DefaultThresholds = Thresholds{
	MaxLossPct:          1,
	MaxG2GP95:           400 * time.Millisecond,
	MaxLatencyP99:       250 * time.Millisecond,
	MaxFirstKeyframeP95: 2 * time.Second,
	MaxFirstFrameP95:    5 * time.Second,
	MaxJitterBufferP95:  250 * time.Millisecond,
	MinConnectedPct:     100,
	MaxBidP95:           50 * time.Millisecond,
	MaxPriceP95:         150 * time.Millisecond,
	MaxChatP95:          200 * time.Millisecond,
}

// WithDefaults fills zero limits from DefaultThresholds (marking them as defaults) and turns
// negative ones off.
func (t Thresholds) WithDefaults() Thresholds {
	if t.defaulted != nil {
		return t // already done
	}
	d := DefaultThresholds
	t.defaulted = map[string]bool{}
	dur := func(name string, v *time.Duration, def time.Duration) {
		switch {
		case *v == 0:
			*v, t.defaulted[name] = def, true
		case *v < 0:
			*v = 0
		}
	}
	num := func(name string, v *float64, def float64) {
		switch {
		case *v == 0:
			*v, t.defaulted[name] = def, true
		case *v < 0:
			*v = 0
		}
	}
	num(checkLoss, &t.MaxLossPct, d.MaxLossPct)
	num(checkConnected, &t.MinConnectedPct, d.MinConnectedPct)
	dur(checkG2G, &t.MaxG2GP95, d.MaxG2GP95)
	dur(checkLatency, &t.MaxLatencyP99, d.MaxLatencyP99)
	dur(checkKeyframe, &t.MaxFirstKeyframeP95, d.MaxFirstKeyframeP95)
	dur(checkFirstFrame, &t.MaxFirstFrameP95, d.MaxFirstFrameP95)
	dur(checkJB, &t.MaxJitterBufferP95, d.MaxJitterBufferP95)
	dur(checkBidP95, &t.MaxBidP95, d.MaxBidP95)
	dur(checkPriceP95, &t.MaxPriceP95, d.MaxPriceP95)
	dur(checkChatP95, &t.MaxChatP95, d.MaxChatP95)
	if t.MaxServerCPU < 0 {
		t.MaxServerCPU = 0
	}
	if !t.CheckFreezes && t.MaxFreezes >= 0 {
		t.defaulted[checkFreezes] = true // one per browser viewer, set by Evaluate
	}
	return t
}

func (p Params) withDefaults() Params {
	if p.Rooms <= 0 {
		p.Rooms = 1
	}
	if p.ViewersPerRoom > 0 {
		p.Viewers = p.Rooms * p.ViewersPerRoom
	}
	if p.Duration <= 0 {
		p.Duration = 30 * time.Second
	}
	if p.Ramp <= 0 {
		p.Ramp = 50
	}
	if p.Publisher == "" {
		p.Publisher = PublisherSynthetic
		if p.Viewers == 0 && p.BrowserViewers == 0 && p.liveEnabled() {
			p.Publisher = PublisherNone // a live-room-only run needs no video
		}
	}
	if p.Bidders > 0 && p.BidRate == 0 {
		p.BidRate = 1000
	}
	if p.Chatters > 0 && p.ChatRate == 0 {
		p.ChatRate = float64(p.Chatters)
	}
	if p.Warmup == 0 {
		p.Warmup = 2 * time.Second
		if p.Publisher == PublisherBrowser {
			p.Warmup = 10 * time.Second
		}
	}
	if p.Warmup < 0 {
		p.Warmup = 0
	}
	if p.PublisherSource == "" {
		p.PublisherSource = SourceClock
	}
	if p.Bitrate <= 0 {
		p.Bitrate = 1_500_000
	}
	if p.Signaling == "" {
		p.Signaling = SignalingWHEP
	}
	if p.ViewerKind == "" {
		p.ViewerKind = ViewerFull
	}
	if p.MaxInFlight <= 0 {
		p.MaxInFlight = 32
	}
	if p.JoinTimeout <= 0 {
		p.JoinTimeout = 20 * time.Second
	}
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.ChromiumPath == "" {
		p.ChromiumPath = "/usr/bin/chromium"
	}
	if p.TabsPerBrowser <= 0 {
		p.TabsPerBrowser = 4
	}
	if p.ViewerToken == "" {
		p.ViewerToken = p.Token
	}
	if p.LotDuration <= 0 {
		p.LotDuration = p.Duration + 60*time.Second
	}
	p.Thresholds = p.Thresholds.WithDefaults()
	if p.FFmpegPath == "" {
		p.FFmpegPath = "ffmpeg"
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	p.URL = strings.TrimRight(p.URL, "/")
	return p
}

// Validate reports the first unusable parameter, wrapping ErrBadParams.
func (p Params) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadParams, fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(p.URL)
	switch {
	case p.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("--url must be http(s)://HOST[:PORT], got %q", p.URL)
	case p.Room == "":
		return bad("--room is required")
	case p.Rooms < 1 || p.Rooms > 1000:
		return bad("--rooms must be 1..1000, got %d", p.Rooms)
	case p.Rooms > 1 && p.Publisher != PublisherSynthetic && p.Publisher != PublisherFile && p.Publisher != PublisherNone:
		return bad("--rooms %d needs the synthetic or file publisher (one per room), not %q", p.Rooms, p.Publisher)
	case p.Rooms > 1 && p.liveEnabled():
		return bad("the live scenario (bidders, chatters) runs in one room: leave --rooms at 1")
	case p.Publisher != PublisherSynthetic && p.Publisher != PublisherBrowser && p.Publisher != PublisherNone && p.Publisher != PublisherFile:
		return bad("--publisher must be synthetic, browser, file or none, got %q", p.Publisher)
	case p.Publisher == PublisherFile && p.VideoFile == "" && p.AudioFile == "":
		return bad("--publisher file needs --video-file and/or --audio-file")
	case p.Publisher != PublisherNone && p.Token == "":
		return bad("--token (a publish token: relaycast token --room %s --publish) is required", p.Room)
	case p.Viewers < 0 || p.BrowserViewers < 0:
		return bad("viewer counts must be >= 0")
	case p.ViewersPerRoom < 0:
		return bad("--viewers-per-room must be >= 0")
	case p.HLSViewers < 0 || p.HLSViewers > 20000:
		return bad("--hls-viewers must be 0..20000")
	case p.Viewers == 0 && p.ViewersPerRoom == 0 && p.BrowserViewers == 0 && p.HLSViewers == 0 && !p.liveEnabled():
		return bad("nothing to do: set --viewers (or --viewers-per-room), --hls-viewers, --browser-viewers, --bidders, --chatters and/or --live-viewers")
	case p.Bidders < 0 || p.Chatters < 0 || p.LiveViewers < 0 || p.Stalled < 0 || p.BidRate < 0 || p.ChatRate < 0:
		return bad("live counts and rates must be >= 0")
	case p.Bidders+p.Chatters+p.LiveViewers+p.Stalled > 20000:
		return bad("at most 20000 live sockets per harness process")
	case p.Stalled > 0 && !p.liveEnabled():
		return bad("--stalled needs a live scenario (--live-viewers, --bidders or --chatters)")
	case (p.Bidders > 0 || p.Chatters > 0) && p.Mint == nil:
		return bad("bidders and chatters need minted tokens: the server's auth secret (--data-dir or --auth-secret)")
	case p.LotDuration > 0 && p.LotDuration < time.Second:
		return bad("--lot-duration at least 1s")
	case !validBrowserViewerMode(p.BrowserViewerMode):
		return bad("--browser-viewer-mode must be webrtc or hls, got %q", p.BrowserViewerMode)
	case p.Viewers > 20000 || p.BrowserViewers > 64:
		return bad("at most 20000 synthetic and 64 browser viewers per harness process")
	case p.PublisherSource != SourceClock && p.PublisherSource != SourceNoise:
		return bad("--publisher-source must be clock or noise, got %q", p.PublisherSource)
	case p.Signaling != SignalingWHEP && p.Signaling != SignalingWS:
		return bad("--signaling must be whep or ws, got %q", p.Signaling)
	case p.ViewerKind != ViewerFull && !p.lean():
		return bad("--viewer must be full, lean or lean-rtcp, got %q", p.ViewerKind)
	case p.LeanDropEvery < 0 || (p.LeanDropEvery > 0 && p.ViewerKind != ViewerLeanRTCP):
		return bad("--lean-drop-every needs --viewer lean-rtcp and N ≥ 0")
	case p.Quality != "" && qualityErr(p.Quality) != nil:
		return qualityErr(p.Quality)
	case p.Duration > 24*time.Hour:
		return bad("--duration at most 24h")
	case p.Thresholds.MaxLossPct > 100 || p.Thresholds.MinConnectedPct > 100:
		return bad("percent thresholds must be within 0..100")
	}
	return p.Thresholds.measurable(p)
}

// measurable refuses an explicit limit this run can never measure, before it starts (a default
// one is n/a instead).
func (t Thresholds) measurable(p Params) error {
	explicit := func(name string, set bool) bool { return set && !t.defaulted[name] }
	bad := func(flag, why string) error {
		return fmt.Errorf("%w: --%s cannot be measured in this run: %s", ErrBadParams, flag, why)
	}
	browsers := p.BrowserViewers > 0
	switch {
	case explicit(checkG2G, t.MaxG2GP95 > 0) && p.Publisher != PublisherBrowser:
		return bad("max-g2g-p95", "glass-to-glass reads the clock the broadcast page paints, so it needs --publisher browser (and --browser-viewers)")
	case explicit(checkG2G, t.MaxG2GP95 > 0) && !browsers:
		return bad("max-g2g-p95", "glass-to-glass is measured by browser viewers: set --browser-viewers")
	case explicit(checkFirstFrame, t.MaxFirstFrameP95 > 0) && !browsers:
		return bad("max-first-frame-p95", "it is measured by browser viewers: set --browser-viewers")
	case explicit(checkJB, t.MaxJitterBufferP95 > 0) && !browsers:
		return bad("max-jb-p95", "it is measured by browser viewers: set --browser-viewers")
	case t.CheckFreezes && !browsers:
		return bad("max-freezes", "freezes are counted by browser viewers: set --browser-viewers")
	case explicit(checkLatency, t.MaxLatencyP99 > 0) && p.Viewers == 0:
		return bad("max-latency-p99", "it is measured by synthetic viewers: set --viewers")
	case explicit(checkLatency, t.MaxLatencyP99 > 0) && p.Publisher != PublisherSynthetic:
		return bad("max-latency-p99", "only the synthetic publisher stamps its frames with their send time")
	case explicit(checkKeyframe, t.MaxFirstKeyframeP95 > 0) && p.Viewers == 0:
		return bad("max-first-keyframe-p95", "it is measured by synthetic viewers: set --viewers")
	case explicit(checkBidP95, t.MaxBidP95 > 0) && p.Bidders == 0:
		return bad("max-bid-p95", "it is measured by bidders: set --bidders")
	case explicit(checkPriceP95, t.MaxPriceP95 > 0) && (p.Bidders == 0 || p.LiveViewers == 0):
		return bad("max-price-p95", "it is measured on viewer sockets while bidders bid: set --bidders and --live-viewers")
	case explicit(checkChatP95, t.MaxChatP95 > 0) && (p.Chatters == 0 || p.LiveViewers == 0):
		return bad("max-chat-p95", "it is measured on viewer sockets while chatters chat: set --chatters and --live-viewers")
	}
	return nil
}

// ParseRamp parses "50/s", "50" or "0.5/s" (viewers per second).
func ParseRamp(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "/s")), 64)
	if err != nil || v <= 0 || v > 10000 {
		return 0, fmt.Errorf("%w: ramp %q: want N/s with 0 < N <= 10000", ErrBadParams, s)
	}
	return v, nil
}

// ParsePercent parses "1%", "1" (both one percent) or "0.5%".
func ParsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%w: percentage %q: want e.g. 1%% (0..100)", ErrBadParams, s)
	}
	return v, nil
}
