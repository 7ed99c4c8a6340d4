package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Dist is a distribution summary; durations are in milliseconds.
type Dist struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Sample is one interval of the run's timeline.
type Sample struct {
	T              float64 `json:"t"`     // seconds since the run started
	Phase          string  `json:"phase"` // warmup | ramp | hold
	Viewers        int64   `json:"viewers"`
	BrowserViewers int64   `json:"browser_viewers"`
	ServerViewers  float64 `json:"server_viewers"` // relaycast_viewers

	CPUCores     float64 `json:"cpu_cores"`      // from process_cpu_seconds_total
	ProcCPUCores float64 `json:"proc_cpu_cores"` // from /proc/<pid>/stat (0 unless --server-pid)
	RSSBytes     float64 `json:"rss_bytes"`
	ForwardedBps float64 `json:"forwarded_bps"` // relaycast_rtp_sent_bytes_total rate
	ReceivedBps  float64 `json:"received_bps"`  // all synthetic viewers together

	LossPct        float64 `json:"loss_pct"` // synthetic viewers, this interval
	LatencyP50     float64 `json:"latency_p50_ms"`
	LatencyP95     float64 `json:"latency_p95_ms"`
	LatencyP99     float64 `json:"latency_p99_ms"`
	G2GP50         float64 `json:"g2g_p50_ms"`
	G2GP95         float64 `json:"g2g_p95_ms"`
	JitterBufferMs float64 `json:"jitter_buffer_ms"` // browsers: mean per-frame jitter buffer delay this interval
	ProcessingMs   float64 `json:"processing_ms"`    // browsers: mean per-frame processing delay this interval
	Freezes        int64   `json:"freezes"`          // browsers: cumulative

	// The live scenario, this interval.
	BidsPerS           float64 `json:"bids_per_s,omitempty"`            // answered bids
	AcceptedPerS       float64 `json:"accepted_per_s,omitempty"`        //
	BidP95             float64 `json:"bid_accepted_p95_ms,omitempty"`   // bid → accepted bid_result
	PriceFanoutP95     float64 `json:"price_fanout_p95_ms,omitempty"`   // bid events on viewer sockets
	ChatDeliveriesPerS float64 `json:"chat_deliveries_per_s,omitempty"` // chat events read by viewer sockets
	ChatP95            float64 `json:"chat_delivery_p95_ms,omitempty"`  //
}

// SyntheticSummary: the Pion viewers.
type SyntheticSummary struct {
	Target        int      `json:"target"`
	Connected     int64    `json:"connected"`
	Failed        int64    `json:"failed"`
	Disconnected  int64    `json:"disconnected"` // connected, then lost by the server before the end
	Signaling     string   `json:"signaling"`
	Packets       int64    `json:"packets"`  // received in the hold window
	Lost          int64    `json:"lost"`     // sequence gaps in the hold window
	LossPct       float64  `json:"loss_pct"` // lost / (packets + lost), hold window
	MbpsPerViewer float64  `json:"mbps_per_viewer"`
	Join          Dist     `json:"join_ms"`           // offer → connected
	FirstKeyframe Dist     `json:"first_keyframe_ms"` // offer → first VP8 keyframe
	Latency       Dist     `json:"latency_ms"`        // publisher send → viewer receive (stamped frames), hold window
	FirstErrors   []string `json:"first_errors,omitempty"`
}

// BrowserViewer is one Chromium tab's figures (cumulative over its session).
type BrowserViewer struct {
	Index            int     `json:"index"`
	State            string  `json:"state"`
	FirstFrameMs     float64 `json:"first_frame_ms"`   // navigation start → first video frame presented
	PlayingMs        float64 `json:"playing_ms"`       // navigation start → <video> "playing"
	JitterBufferMs   float64 `json:"jitter_buffer_ms"` // jitterBufferDelay / jitterBufferEmittedCount, hold window
	ProcessingMs     float64 `json:"processing_ms"`    // totalProcessingDelay / framesDecoded, hold window
	FramesDecoded    int64   `json:"frames_decoded"`
	FramesDropped    int64   `json:"frames_dropped"`
	FreezeCount      int64   `json:"freeze_count"`
	FreezesDurationS float64 `json:"total_freezes_duration_s"`
	PacketsReceived  int64   `json:"packets_received"`
	PacketsLost      int64   `json:"packets_lost"`
	NackCount        int64   `json:"nack_count"`
	PliCount         int64   `json:"pli_count"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	FPS              float64 `json:"fps"`
	Mbps             float64 `json:"mbps"`
	G2G              Dist    `json:"g2g_ms"`
	Error            string  `json:"error,omitempty"`
}

// BrowserSummary: the Chromium viewers.
type BrowserSummary struct {
	Target       int             `json:"target"`
	Playing      int             `json:"playing"`
	FirstFrame   Dist            `json:"first_frame_ms"`   // over viewers
	JitterBuffer Dist            `json:"jitter_buffer_ms"` // over viewers (per-frame means)
	Processing   Dist            `json:"processing_ms"`    // over viewers
	JBPlusProc   Dist            `json:"jb_plus_processing_ms"`
	G2G          Dist            `json:"g2g_ms"`       // all clock samples of all viewers, hold window
	Freezes      int64           `json:"freezes"`      // since each tab started
	HoldFreezes  int64           `json:"freezes_hold"` // in the hold window
	LossPct      float64         `json:"loss_pct"`
	Viewers      []BrowserViewer `json:"viewers"`
}

// ServerSummary: the server process during the hold window.
type ServerSummary struct {
	CPUCoresMean     float64 `json:"cpu_cores_mean"`      // Δprocess_cpu_seconds_total / Δt
	ProcCPUCoresMean float64 `json:"proc_cpu_cores_mean"` // Δ(utime+stime) from /proc / Δt (0 without --server-pid)
	CPUCoresMax      float64 `json:"cpu_cores_max"`       // highest interval
	RSSMaxBytes      float64 `json:"rss_max_bytes"`
	ProcRSSMaxBytes  float64 `json:"proc_rss_max_bytes"`
	ForwardedMbps    float64 `json:"forwarded_mbps"`      // Δrelaycast_rtp_sent_bytes_total / Δt
	PacketsSent      float64 `json:"packets_sent"`        // Δrelaycast_rtp_packets_sent_total
	PacketsDropped   float64 `json:"packets_dropped"`     // Δrelaycast_rtp_packets_dropped_total
	ViewersPerCore   float64 `json:"viewers_per_core"`    // viewers / cpu cores
	CPUMsPerViewerS  float64 `json:"cpu_ms_per_viewer_s"` // server CPU ms per viewer-second
	ScrapeErrors     int     `json:"scrape_errors"`
	Measured         bool    `json:"measured"`      // /metrics was read at both ends of the hold window
	ProcMeasured     bool    `json:"proc_measured"` // so was /proc/<pid> (--server-pid)
}

// Report is everything a run measured.
type Report struct {
	Started     time.Time        `json:"started"`
	Ended       time.Time        `json:"ended"`
	HoldSeconds float64          `json:"hold_seconds"`
	Interrupted bool             `json:"interrupted,omitempty"`
	Params      ReportParams     `json:"params"`
	Synthetic   SyntheticSummary `json:"synthetic"`
	Browser     *BrowserSummary  `json:"browser,omitempty"`
	Ramp        *PublisherRamp   `json:"publisher_ramp,omitempty"` // --publisher browser (ramp.go)
	Server      ServerSummary    `json:"server"`
	Samples     []Sample         `json:"samples"`
	Checks      []Check          `json:"checks"`
	Pass        bool             `json:"pass"`
	Notes       []string         `json:"notes,omitempty"`

	Recording *RecordingNote    `json:"recording,omitempty"` // what the server recorded of the run (recording.go)
	Layers    *LayerMix         `json:"layers,omitempty"`    // --simulcast / --quality (simulcast.go)
	Generator *GeneratorSummary `json:"generator,omitempty"` // lean viewers' socket reads (gro.go)
	RTCP      *RTCPSummary      `json:"rtcp,omitempty"`      // lean-rtcp viewers' RTCP and the server's answers (rtcp.go)
	Live      *LiveSummary      `json:"live,omitempty"`      // the live scenario (live.go)
	Rooms     []RoomSummary     `json:"rooms,omitempty"`     // --rooms > 1: each room, worst loss first (rooms.go)
	HLS       *HLSSummary       `json:"hls,omitempty"`       // --hls-viewers (hlsviewers.go)
}

// ReportParams is the scenario as run (no tokens).
type ReportParams struct {
	URL            string  `json:"url"`
	Room           string  `json:"room"`
	Rooms          int     `json:"rooms"`
	HLSViewers     int     `json:"hls_viewers,omitempty"`
	Viewers        int     `json:"viewers"`
	BrowserViewers int     `json:"browser_viewers"`
	DurationS      float64 `json:"duration_s"`
	Ramp           float64 `json:"ramp_per_s"`
	WarmupS        float64 `json:"warmup_s"`
	Publisher      string  `json:"publisher"`
	Bitrate        int     `json:"bitrate"`
	Signaling      string  `json:"signaling"`
	ServerPID      int     `json:"server_pid,omitempty"`
	Simulcast      bool    `json:"simulcast,omitempty"`
	Quality        string  `json:"quality,omitempty"`
	LeanNoGRO      bool    `json:"lean_no_gro,omitempty"`
	Bidders        int     `json:"bidders,omitempty"`
	Chatters       int     `json:"chatters,omitempty"`
	ChatRate       float64 `json:"chat_rate,omitempty"`
	LiveViewers    int     `json:"live_viewers,omitempty"`
	BidRate        float64 `json:"bid_rate,omitempty"`
	LotDurationS   float64 `json:"lot_duration_s,omitempty"`
	Stalled        int     `json:"stalled,omitempty"`
}

// Check is one evaluated threshold. Value is meaningful only when Measured.
type Check struct {
	Name     string  `json:"name"`
	Limit    float64 `json:"limit"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Measured bool    `json:"measured"`
	Default  bool    `json:"default,omitempty"` // the limit is DefaultThresholds'
	Pass     bool    `json:"pass"`
	Note     string  `json:"note,omitempty"`
}

// Check names.
const (
	checkConnected  = "connected"
	checkLoss       = "loss"
	checkLatency    = "latency_p99"
	checkKeyframe   = "first_keyframe_p95"
	checkServerCPU  = "server_cpu"
	checkG2G        = "g2g_p95"
	checkFirstFrame = "first_frame_p95"
	checkJB         = "jb_plus_processing_p95"
	checkFreezes    = "freezes"
)

// Result is PASS, FAIL or n/a (a defaulted limit whose figure was not measured).
func (c Check) Result() string {
	switch {
	case !c.Measured && c.Pass:
		return "n/a"
	case c.Pass:
		return "PASS"
	}
	return "FAIL"
}

func (c Check) String() string {
	value := "n/a"
	if c.Measured {
		value = fmtFigure(c.Value)
	}
	limit := fmtFigure(c.Limit)
	if c.Default {
		limit += ", default"
	}
	s := fmt.Sprintf("%-4s %-24s %10s %-5s (limit %s)", c.Result(), c.Name, value, c.Unit, limit)
	if c.Note != "" {
		s += " " + c.Note
	}
	return s
}

// Evaluate checks r against t, fills r.Checks and r.Pass and returns r.Pass. Limits are taken
// as given (Run applies Thresholds.WithDefaults first); a zero limit is not checked. A figure
// that was not measured fails its check unless the limit is a default (then it is n/a): a CI
// gate that cannot see its figure must not pass silently.
func (r *Report) Evaluate(t Thresholds) bool {
	r.Checks = nil
	add := func(name, unit string, limit, value float64, measured, max bool, note string) {
		c := Check{Name: name, Unit: unit, Limit: limit, Value: round3(value), Measured: measured, Default: t.defaulted[name], Note: note}
		switch {
		case !measured:
			c.Value, c.Pass = 0, c.Default
			if !c.Default {
				c.Note = strings.TrimSpace("not measured " + note)
			}
		case max:
			c.Pass = value <= limit
		default:
			c.Pass = value >= limit
		}
		r.Checks = append(r.Checks, c)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	target := r.Synthetic.Target
	joined := r.Synthetic.Connected
	if r.Browser != nil {
		target += r.Browser.Target
		joined += int64(r.Browser.Playing)
	}
	if target > 0 && t.MinConnectedPct > 0 {
		add(checkConnected, "%", t.MinConnectedPct, 100*float64(joined)/float64(target), true, false, r.connectedNote())
	}
	if t.MaxLossPct > 0 {
		loss, measured := r.lossPct()
		add(checkLoss, "%", t.MaxLossPct, loss, measured, true, "")
	}
	if t.MaxLatencyP99 > 0 && (r.Synthetic.Target > 0 || !t.defaulted[checkLatency]) {
		add(checkLatency, "ms", ms(t.MaxLatencyP99), r.Synthetic.Latency.P99, r.Synthetic.Latency.Count > 0, true, "")
	}
	if t.MaxFirstKeyframeP95 > 0 && (r.Synthetic.Target > 0 || !t.defaulted[checkKeyframe]) {
		add(checkKeyframe, "ms", ms(t.MaxFirstKeyframeP95), r.Synthetic.FirstKeyframe.P95, r.Synthetic.FirstKeyframe.Count > 0, true, "")
	}
	if t.MaxServerCPU > 0 {
		add(checkServerCPU, "cores", t.MaxServerCPU, r.Server.CPUCoresMean, r.HoldSeconds > 0 && r.Server.ScrapeErrors == 0, true, "")
	}
	var b BrowserSummary
	if r.Browser != nil {
		b = *r.Browser
	}
	browserOr := func(name string) bool { return r.Browser != nil || !t.defaulted[name] }
	if t.MaxG2GP95 > 0 && browserOr(checkG2G) {
		note := ""
		if b.G2G.Count == 0 && r.Params.Publisher != PublisherBrowser {
			note = "(glass-to-glass needs --publisher browser: it reads the clock the broadcast page paints)"
		}
		add(checkG2G, "ms", ms(t.MaxG2GP95), b.G2G.P95, b.G2G.Count > 0, true, note)
	}
	if t.MaxFirstFrameP95 > 0 && browserOr(checkFirstFrame) {
		add(checkFirstFrame, "ms", ms(t.MaxFirstFrameP95), b.FirstFrame.P95, b.FirstFrame.Count > 0, true, "")
	}
	if t.MaxJitterBufferP95 > 0 && browserOr(checkJB) {
		add(checkJB, "ms", ms(t.MaxJitterBufferP95), b.JBPlusProc.P95, b.JBPlusProc.Count > 0, true, "")
	}
	switch {
	case t.CheckFreezes:
		add(checkFreezes, "", float64(t.MaxFreezes), float64(b.HoldFreezes), r.Browser != nil && r.HoldSeconds > 0, true, "in the hold window")
	case t.defaulted[checkFreezes] && r.Browser != nil:
		add(checkFreezes, "", float64(b.Target), float64(b.HoldFreezes), r.HoldSeconds > 0, true, "in the hold window (default: one per browser viewer)")
	}
	r.evaluateLive(t, add)
	r.Pass = true
	for _, c := range r.Checks {
		r.Pass = r.Pass && c.Pass
	}
	return r.Pass
}

// connectedNote says who did not join or play, and why where known.
func (r *Report) connectedNote() string {
	var parts []string
	if s := r.Synthetic; s.Target > 0 && s.Connected < int64(s.Target) {
		p := fmt.Sprintf("synthetic %d/%d joined", s.Connected, s.Target)
		if len(s.FirstErrors) > 0 {
			p += " (" + s.FirstErrors[0] + ")"
		}
		parts = append(parts, p)
	}
	if b := r.Browser; b != nil && b.Playing < b.Target {
		p := fmt.Sprintf("browser %d/%d playing", b.Playing, b.Target)
		for _, v := range b.Viewers {
			if v.State == "playing" {
				continue
			}
			why := v.Error
			if why == "" {
				why = fmt.Sprintf("state %q, %d frames decoded", v.State, v.FramesDecoded)
			}
			p += fmt.Sprintf(" (#%d: %s)", v.Index, why)
			break
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// lossPct combines synthetic and browser video loss (packet weighted).
func (r *Report) lossPct() (float64, bool) {
	recv, lost := float64(r.Synthetic.Packets), float64(r.Synthetic.Lost)
	if r.Browser != nil {
		for _, v := range r.Browser.Viewers {
			recv += float64(v.PacketsReceived)
			lost += float64(max(v.PacketsLost, 0))
		}
	}
	if recv+lost == 0 {
		return 0, false
	}
	return 100 * lost / (recv + lost), true
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// lossOf is lost / (received + lost) in percent (0 when nothing was expected).
func lossOf(received, lost int64) float64 {
	if received+lost <= 0 || lost <= 0 {
		return 0
	}
	return 100 * float64(lost) / float64(received+lost)
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
