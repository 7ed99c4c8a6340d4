package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SoakSample is one 30-s reading of the soak. Counters (joins, bids, chat …) are totals since
// the start; LossPct and CPUCores are over the interval since the previous sample.
type SoakSample struct {
	T     float64   `json:"t"` // seconds since the start
	At    time.Time `json:"at"`
	Phase string    `json:"phase"` // baseline | load | stopped | after

	// the server (/proc/<pid> with --server-pid, else /metrics)
	ServerOK      bool    `json:"server_ok"`
	RSSMB         float64 `json:"rss_mb"`
	Goroutines    float64 `json:"goroutines"`   // go_goroutines
	HeapMB        float64 `json:"heap_mb"`      // go_memstats_heap_inuse_bytes
	HeapLiveMB    float64 `json:"heap_live_mb"` // go_gc_heap_live_bytes: what the last GC found live
	OpenFDs       float64 `json:"open_fds"`
	FDSockets     float64 `json:"fd_sockets"`  // of OpenFDs, sockets (TCP, UDP, unix)
	FDAccepted    float64 `json:"fd_accepted"` // of FDSockets, TCP connections to the server's HTTP port (its clients)
	Threads       float64 `json:"threads"`
	CPUCores      float64 `json:"cpu_cores"`
	ServerViewers float64 `json:"server_viewers"` // relaycast_viewers
	Load1         float64 `json:"load1"`          // the box's 1-minute load average

	// the generator
	GenGoroutines      int     `json:"gen_goroutines"`
	Viewers            int     `json:"viewers"` // connected now
	ViewerJoins        int64   `json:"viewer_joins"`
	ViewerJoinFailures int64   `json:"viewer_join_failures"`
	ViewerLeaves       int64   `json:"viewer_leaves"`
	VideoPackets       int64   `json:"video_packets"`
	VideoLost          int64   `json:"video_lost"`
	LossPct            float64 `json:"loss_pct"`
	ChatSent           int64   `json:"chat_sent"`
	ChatDelivered      int64   `json:"chat_delivered"` // deliveries on the chat's receiver sockets
	ChatRefused        int64   `json:"chat_refused"`
	ChatGaps           int64   `json:"chat_gaps"` // lost events (seq gaps) on the chat sockets
	ChatDups           int64   `json:"chat_dups"`
	ChatJoinFailures   int64   `json:"chat_join_failures"`
	LiveSocketsClosed  int     `json:"live_sockets_closed"` // chat sockets the server closed during the load
	Lots               int     `json:"lots"`                // lots ended and checked
	LotFailures        int     `json:"lot_failures"`        // lots whose setup, end or check went wrong
	BidsSent           int64   `json:"bids_sent"`
	BidsAccepted       int64   `json:"bids_accepted"`
	BidErrors          int64   `json:"bid_errors"` // no bid_result (timeout, socket closed)
	BidderJoinFailures int64   `json:"bidder_join_failures"`
	AcceptedLost       int     `json:"accepted_lost"` // LogCheck.Lost summed over the ended lots
	DoubleAccepted     int     `json:"double_accepted"`
	Uploads            int     `json:"uploads"` // completed (a recording was created)
	UploadErrors       int     `json:"upload_errors"`
	UploadsReady       int     `json:"uploads_ready"`
	UploadsFailed      int     `json:"uploads_failed"`
}

// SoakReport is the soak's JSON report (soak.json).
type SoakReport struct {
	Started     time.Time       `json:"started"`
	LoadEnded   time.Time       `json:"load_ended,omitzero"`
	Ended       time.Time       `json:"ended,omitzero"`
	Interrupted bool            `json:"interrupted"`
	Params      SoakParamsJSON  `json:"params"`
	Series      []SoakSeries    `json:"series"`
	Verdict     SoakVerdict     `json:"verdict"`
	Lots        []SoakLot       `json:"lots"`
	Uploads     []SoakUpload    `json:"uploads"`
	Samples     []SoakSample    `json:"samples"`
	Load        SoakLoadAverage `json:"load_average"`

	ViewerErrors []string `json:"viewer_errors,omitempty"`
	ChatErrors   []string `json:"chat_errors,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// SoakParamsJSON is the scenario as run.
type SoakParamsJSON struct {
	URL          string  `json:"url"`
	Room         string  `json:"room"`
	DurationS    float64 `json:"duration_s"`
	AfterS       float64 `json:"after_s"`
	SampleS      float64 `json:"sample_s"`
	Viewers      int     `json:"viewers"`
	ChurnPct     float64 `json:"churn_pct"`
	ChurnS       float64 `json:"churn_s"`
	Chatters     int     `json:"chatters"`
	ChatViewers  int     `json:"chat_viewers"`
	LotS         float64 `json:"lot_s"`
	LotBidders   int     `json:"lot_bidders"`
	LotBidRate   float64 `json:"lot_bid_rate"`
	UploadS      float64 `json:"upload_s"`
	UploadFile   string  `json:"upload_file,omitempty"`
	Bitrate      int     `json:"bitrate"`
	ServerPID    int     `json:"server_pid,omitempty"`
	LossFloorPct float64 `json:"loss_floor_pct"`
}

func soakReportParams(sp SoakParams) SoakParamsJSON {
	return SoakParamsJSON{URL: sp.Base.URL, Room: sp.Base.Room, DurationS: sp.Duration.Seconds(), AfterS: sp.After.Seconds(),
		SampleS: sp.SampleEvery.Seconds(), Viewers: sp.Viewers, ChurnPct: sp.ChurnPct, ChurnS: sp.ChurnEvery.Seconds(),
		Chatters: sp.Chatters, ChatViewers: sp.ChatViewers, LotS: sp.LotEvery.Seconds(), LotBidders: sp.LotBidders,
		LotBidRate: sp.LotBidRate, UploadS: sp.UploadEvery.Seconds(), UploadFile: sp.UploadFile, Bitrate: sp.Base.Bitrate,
		ServerPID: sp.Base.ServerPID, LossFloorPct: soakLossFloorPct}
}

// soakLossFloorPct is the video loss the generator itself accounts for: none. Lean viewers
// on loopback lost no packet in the live-load runs (docs/LIVE-LOAD.md, c0), so any loss counts.
const soakLossFloorPct = 0

// SoakSeries is one resource series: first (the baseline, before any load), last (after the
// return), max, and the trend over the second half of the load.
type SoakSeries struct {
	Name       string  `json:"name"`
	Unit       string  `json:"unit"`
	Baseline   float64 `json:"baseline"`
	First      float64 `json:"first_load"` // the first sample under load
	LastLoad   float64 `json:"last_load"`
	Max        float64 `json:"max"`
	Last       float64 `json:"last"`
	MeanHalf   float64 `json:"mean_second_half"`
	SlopePerH  float64 `json:"slope_per_hour"` // least squares over the second half of the load
	SlopePct   float64 `json:"slope_pct_of_mean_per_hour"`
	HalfPoints int     `json:"half_points"`
	Flat       *bool   `json:"flat,omitempty"`     // trend checked (RSS, goroutines, fds)
	Returned   *bool   `json:"returned,omitempty"` // back to baseline after the load
}

// SoakVerdict is the run against the target: flat, back to baseline, no loss.
type SoakVerdict struct {
	Flat             bool     `json:"flat"`
	BackToBaseline   bool     `json:"back_to_baseline"`
	NoLoss           bool     `json:"no_loss"`
	LoadHours        float64  `json:"load_hours"`
	FullDuration     bool     `json:"full_duration"`
	VideoLossPct     float64  `json:"video_loss_pct"` // over the whole load
	AcceptedBidsLost int      `json:"accepted_bids_lost"`
	Pass             bool     `json:"pass"`
	Reasons          []string `json:"reasons,omitempty"`
}

// SoakLoadAverage is the box's load (1-min average) while the load ran.
type SoakLoadAverage struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
	Note string  `json:"note"`
}

// Trend rules (documented in docs/RELIABILITY.md, Soak): a series is flat when its
// least-squares slope over the second half of the load, times one hour, is at most flatPct of
// its mean there or flatAbs (the noise a churning load makes: 10 viewers leave and join at
// once). After the load a series with retBaseline must end within returnPct of the baseline
// or retAbs above it (the live heap, goroutines, fds that are not sockets, sockets the server
// accepted); one with retNotAbove must not end above its last value under load: RSS (Go keeps
// freed pages until its scavenger returns them, over minutes: the live heap is the memory
// that must return) and all fds or sockets (they include the Redis clients' pools, which keep
// idle connections for up to 30 minutes; a leaked client connection would also keep its
// goroutines, which must return). The heap in use (retLiveElseBaseline) is held to retNotAbove
// when the live heap was sampled, else (an older sampler) to retBaseline: it counts every span
// that holds one live object (Go does not move objects) and the garbage made since the last
// GC, so after a load it stays some MB above a fresh process's figure with nothing of the load
// referenced; the live heap (go_gc_heap_live_bytes) is what the last GC found referenced.
const (
	retNone = iota
	retBaseline
	retNotAbove
	retLiveElseBaseline
)

var soakSeriesRules = []struct {
	name, unit        string
	get               func(SoakSample) float64
	checked           bool
	flatPct, flatAbs  float64
	ret               int
	returnPct, retAbs float64
}{
	{"rss", "MB", func(s SoakSample) float64 { return s.RSSMB }, true, 10, 10, retNotAbove, 0, 0},
	{"heap_inuse", "MB", func(s SoakSample) float64 { return s.HeapMB }, true, 10, 10, retLiveElseBaseline, 10, 10},
	{"heap_live", "MB", func(s SoakSample) float64 { return s.HeapLiveMB }, true, 10, 10, retBaseline, 10, 10},
	{"goroutines", "", func(s SoakSample) float64 { return s.Goroutines }, true, 10, 50, retBaseline, 10, 20},
	{"open_fds", "", func(s SoakSample) float64 { return s.OpenFDs }, true, 10, 10, retNotAbove, 0, 0},
	{"fds_not_sockets", "", func(s SoakSample) float64 { return s.OpenFDs - s.FDSockets }, true, 10, 5, retBaseline, 10, 5},
	{"fd_sockets", "", func(s SoakSample) float64 { return s.FDSockets }, false, 0, 0, retNotAbove, 0, 0},
	{"fd_accepted", "", func(s SoakSample) float64 { return s.FDAccepted }, false, 0, 0, retBaseline, 10, 5},
	{"threads", "", func(s SoakSample) float64 { return s.Threads }, false, 0, 0, retNone, 0, 0},
	{"cpu", "cores", func(s SoakSample) float64 { return s.CPUCores }, false, 0, 0, retNone, 0, 0},
}

// leastSquares is the slope of y over x (0 with fewer than two distinct x).
func leastSquares(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// Analyze fills Series, Verdict and Load from the samples.
func (r *SoakReport) Analyze() {
	var load, after []SoakSample
	var base *SoakSample
	for i, s := range r.Samples {
		switch s.Phase {
		case "baseline":
			if base == nil {
				base = &r.Samples[i]
			}
		case "load":
			if s.ServerOK {
				load = append(load, s)
			}
		case "after":
			if s.ServerOK {
				after = append(after, s)
			}
		}
	}
	r.Series = nil
	v := SoakVerdict{Flat: true, BackToBaseline: len(after) > 0, NoLoss: true}
	liveSampled := false
	for _, s := range r.Samples {
		liveSampled = liveSampled || s.HeapLiveMB > 0
	}
	half := load
	if len(load) >= 4 {
		half = load[len(load)/2:]
	}
	for _, rule := range soakSeriesRules {
		if rule.name == "heap_live" && !liveSampled {
			continue // an older sampler
		}
		se := SoakSeries{Name: rule.name, Unit: rule.unit, HalfPoints: len(half)}
		if base != nil {
			se.Baseline = rule.get(*base)
		}
		if len(load) > 0 {
			se.First, se.LastLoad = rule.get(load[0]), rule.get(load[len(load)-1])
		}
		var xs, ys []float64
		for _, s := range half {
			xs, ys = append(xs, s.T/3600), append(ys, rule.get(s))
			se.MeanHalf += rule.get(s)
		}
		if len(half) > 0 {
			se.MeanHalf = round3(se.MeanHalf / float64(len(half)))
		}
		for _, s := range r.Samples {
			if s.ServerOK {
				se.Max = max(se.Max, rule.get(s))
			}
		}
		se.Last = se.LastLoad
		if len(after) > 0 {
			se.Last = rule.get(after[len(after)-1])
		}
		se.SlopePerH = round3(leastSquares(xs, ys))
		if se.MeanHalf > 0 {
			se.SlopePct = round3(100 * se.SlopePerH / se.MeanHalf)
		}
		if rule.checked {
			flat := len(half) >= 4 && (se.SlopePerH <= rule.flatAbs || se.SlopePct <= rule.flatPct)
			se.Flat = &flat
			if !flat {
				v.Flat = false
				if len(half) < 4 {
					v.Reasons = append(v.Reasons, fmt.Sprintf("%s: too few samples under load for a trend (%d)", rule.name, len(half)))
				} else {
					v.Reasons = append(v.Reasons, fmt.Sprintf("%s rises %.3g %s/h over the second half (%.3g%% of its mean)", rule.name, se.SlopePerH, rule.unit, se.SlopePct))
				}
			}
		}
		if rule.ret != retNone && len(after) > 0 && base != nil && se.Max > 0 { // max 0: not measured (an older sampler)
			var ok bool
			ret := rule.ret
			if ret == retLiveElseBaseline {
				ret = retBaseline
				if liveSampled {
					ret = retNotAbove
				}
			}
			if ret == retNotAbove {
				ok = se.Last <= se.LastLoad || se.Last <= se.Baseline*1.1
			} else {
				ok = se.Last <= se.Baseline*(1+rule.returnPct/100)+rule.retAbs
			}
			se.Returned = &ok
			if !ok {
				v.BackToBaseline = false
				v.Reasons = append(v.Reasons, fmt.Sprintf("%s ends at %.4g after the load, baseline %.4g, max %.4g", rule.name, se.Last, se.Baseline, se.Max))
			}
		}
		r.Series = append(r.Series, se)
	}
	if len(after) == 0 {
		v.Reasons = append(v.Reasons, "no samples after the load yet: the return to baseline is not shown")
	}
	// loss: video over the whole load, accepted bids, chat events
	var lastLoad SoakSample
	for _, s := range r.Samples {
		if s.Phase == "load" || s.Phase == "stopped" {
			lastLoad = s
		}
	}
	v.VideoLossPct = round3(lossOf(lastLoad.VideoPackets, lastLoad.VideoLost))
	v.AcceptedBidsLost = lastLoad.AcceptedLost
	if len(r.Samples) > 0 {
		l := r.Samples[len(r.Samples)-1]
		v.AcceptedBidsLost = max(v.AcceptedBidsLost, l.AcceptedLost)
		noLoss := func(ok bool, why string) {
			if !ok {
				v.NoLoss = false
				v.Reasons = append(v.Reasons, why)
			}
		}
		noLoss(v.VideoLossPct <= soakLossFloorPct, fmt.Sprintf("video loss %.3f%% (%d of %d packets)", v.VideoLossPct, lastLoad.VideoLost, lastLoad.VideoPackets))
		noLoss(l.AcceptedLost == 0, fmt.Sprintf("%d accepted bids lost", l.AcceptedLost))
		noLoss(l.DoubleAccepted == 0, fmt.Sprintf("%d bids accepted twice", l.DoubleAccepted))
		noLoss(l.ChatGaps == 0 && l.ChatDups == 0, fmt.Sprintf("chat sockets: %d events lost, %d duplicated", l.ChatGaps, l.ChatDups))
		noLoss(l.ViewerJoinFailures == 0, fmt.Sprintf("%d viewer joins failed", l.ViewerJoinFailures))
		noLoss(l.BidErrors == 0 && l.BidderJoinFailures == 0, fmt.Sprintf("%d bids unanswered, %d bidder joins failed", l.BidErrors, l.BidderJoinFailures))
		noLoss(l.LotFailures == 0, fmt.Sprintf("%d lots whose setup, end or check failed", l.LotFailures))
		noLoss(l.UploadErrors == 0 && l.UploadsFailed == 0, fmt.Sprintf("%d uploads refused, %d transcodes failed", l.UploadErrors, l.UploadsFailed))
	}
	if len(load) > 0 {
		v.LoadHours = round3((load[len(load)-1].T - load[0].T + r.Params.SampleS) / 3600)
	}
	v.FullDuration = !r.Interrupted && len(after) > 0
	switch {
	case v.FullDuration:
	case r.Ended.IsZero() && !r.Interrupted:
		v.Reasons = append(v.Reasons, fmt.Sprintf("a snapshot of a run still going: %.2f h of load so far", v.LoadHours))
	default:
		v.Reasons = append(v.Reasons, fmt.Sprintf("the run was cut short: %.2f h of load", v.LoadHours))
	}
	v.Pass = v.Flat && v.BackToBaseline && v.NoLoss && v.FullDuration
	r.Verdict = v
	var n, sum, mx float64
	for _, s := range load {
		n++
		sum += s.Load1
		mx = max(mx, s.Load1)
	}
	r.Load = SoakLoadAverage{Max: mx, Note: "1-minute load average of the whole box (2 cores shared with other agents' builds, tests and measurements) at each sample under load"}
	if n > 0 {
		r.Load.Mean = round3(sum / n)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *SoakReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "–"
	case *b:
		return "yes"
	default:
		return "**no**"
	}
}

// WriteMarkdown writes the summary tables (the plots are in soak.html).
func (r *SoakReport) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := r.Params
	fmt.Fprintf(&b, "# Soak %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%g s of load (%d lean video viewers, %g %% leave and rejoin every %g s; %d chatters; a lot every %g s with %d bidders at %g bids/s; an upload every %g s; the server records), then %g s after. Samples every %g s. Plots: soak.html.\n\n",
		p.DurationS, p.Viewers, p.ChurnPct, p.ChurnS, p.Chatters, p.LotS, p.LotBidders, p.LotBidRate, p.UploadS, p.AfterS, p.SampleS)
	v := r.Verdict
	fmt.Fprintf(&b, "**Verdict: %s** — flat %v, back to baseline %v, no loss %v, full duration %v (%.2f h of load).\n\n", map[bool]string{true: "PASS", false: "FAIL"}[v.Pass], v.Flat, v.BackToBaseline, v.NoLoss, v.FullDuration, v.LoadHours)
	for _, why := range v.Reasons {
		fmt.Fprintf(&b, "- %s\n", why)
	}
	b.WriteString("\n| series | baseline | first under load | last under load | max | last after | slope, 2nd half (per h) | % of mean per h | flat | back |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Series {
		fmt.Fprintf(&b, "| %s %s | %.4g | %.4g | %.4g | %.4g | %.4g | %+.3g | %+.3g %% | %s | %s |\n", s.Name, s.Unit, s.Baseline, s.First, s.LastLoad, s.Max, s.Last, s.SlopePerH, s.SlopePct, yesNo(s.Flat), yesNo(s.Returned))
	}
	if n := len(r.Samples); n > 0 {
		l := r.Samples[n-1]
		fmt.Fprintf(&b, "\n| load | total |\n|---|---|\n")
		fmt.Fprintf(&b, "| viewer joins (failed) / leaves | %d (%d) / %d |\n", l.ViewerJoins, l.ViewerJoinFailures, l.ViewerLeaves)
		fmt.Fprintf(&b, "| video packets (lost) | %d (%d: %.3f %%) |\n", l.VideoPackets, l.VideoLost, v.VideoLossPct)
		fmt.Fprintf(&b, "| chat sent / refused / delivered to %d sockets / lost events / dups | %d / %d / %d / %d / %d |\n", p.ChatViewers, l.ChatSent, l.ChatRefused, l.ChatDelivered, l.ChatGaps, l.ChatDups)
		fmt.Fprintf(&b, "| lots (failed) | %d (%d) |\n", l.Lots, l.LotFailures)
		fmt.Fprintf(&b, "| bids sent / accepted / unanswered / accepted lost / double | %d / %d / %d / %d / %d |\n", l.BidsSent, l.BidsAccepted, l.BidErrors, l.AcceptedLost, l.DoubleAccepted)
		fmt.Fprintf(&b, "| uploads completed / refused / ready / failed | %d / %d / %d / %d |\n", l.Uploads, l.UploadErrors, l.UploadsReady, l.UploadsFailed)
	}
	fmt.Fprintf(&b, "\nLoad average (1 min) under load: mean %.2f, max %.2f — %s.\n", r.Load.Mean, r.Load.Max, r.Load.Note)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// soakPlot is an inline SVG line plot of one series over time, the load window shaded.
func soakPlot(title, unit string, samples []SoakSample, get func(SoakSample) float64, loadEnd float64) string {
	const W, H, L, R, T, B = 720.0, 200.0, 60.0, 10.0, 24.0, 28.0
	var pts []SoakSample
	for _, s := range samples {
		if s.ServerOK {
			pts = append(pts, s)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%g" y="15" font-weight="bold">%s</text>`, L, html.EscapeString(title))
	if len(pts) == 0 {
		b.WriteString(`<text x="60" y="100">no samples</text></svg>`)
		return b.String()
	}
	tmax, ymax := pts[len(pts)-1].T, 0.0
	for _, s := range pts {
		ymax = max(ymax, get(s))
	}
	ymax = niceCeil(ymax)
	tmax = max(tmax, 1)
	x := func(t float64) float64 { return L + (W-L-R)*t/tmax }
	y := func(v float64) float64 { return T + (H-T-B)*(1-v/ymax) }
	if loadEnd > 0 {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="%g" fill="#eef3fb"/>`, x(0), T, x(min(loadEnd, tmax))-x(0), H-T-B)
	}
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, L, H-B, W-R, H-B, L, T, L, H-B)
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%.4g</text><line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`, L-4, y(v)+4, v, L, y(v), W-R, y(v))
	}
	for i := 0; i <= 6; i++ {
		t := tmax * float64(i) / 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%.0f min</text>`, x(t), H-B+14, t/60)
	}
	b.WriteString(`<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="`)
	for _, s := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(s.T), y(get(s)))
	}
	b.WriteString(`"/>`)
	fmt.Fprintf(&b, `<text x="%g" y="15" text-anchor="end" fill="#666">%s (shaded: under load)</text></svg>`, W-R, html.EscapeString(unit))
	return b.String()
}

// WriteHTML writes the report with inline SVG plots of every series.
func (r *SoakReport) WriteHTML(w io.Writer) error {
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		return err
	}
	loadEnd := 0.0
	if !r.LoadEnded.IsZero() {
		loadEnd = r.LoadEnded.Sub(r.Started).Seconds()
	} else if n := len(r.Samples); n > 0 {
		loadEnd = r.Samples[n-1].T
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>relaycast soak</title><style>body{font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style></head><body>`)
	fmt.Fprintf(&b, "<h1>relaycast soak, %s</h1>", html.EscapeString(r.Started.UTC().Format("2006-01-02 15:04 UTC")))
	plots := []struct {
		title, unit string
		get         func(SoakSample) float64
	}{
		{"server RSS", "MB", func(s SoakSample) float64 { return s.RSSMB }},
		{"server Go heap in use", "MB", func(s SoakSample) float64 { return s.HeapMB }},
		{"server Go live heap", "MB, as of the last GC", func(s SoakSample) float64 { return s.HeapLiveMB }},
		{"server goroutines", "go_goroutines", func(s SoakSample) float64 { return s.Goroutines }},
		{"server open fds", "/proc/PID/fd", func(s SoakSample) float64 { return s.OpenFDs }},
		{"server CPU", "cores, per 30 s", func(s SoakSample) float64 { return s.CPUCores }},
		{"server threads", "", func(s SoakSample) float64 { return s.Threads }},
		{"video viewers connected", "generator", func(s SoakSample) float64 { return float64(s.Viewers) }},
		{"video loss", "% per interval", func(s SoakSample) float64 { return s.LossPct }},
		{"box load average", "1 min", func(s SoakSample) float64 { return s.Load1 }},
	}
	for _, pl := range plots {
		b.WriteString("<p>" + soakPlot(pl.title, pl.unit, r.Samples, pl.get, loadEnd) + "</p>")
	}
	b.WriteString("<h2>Summary</h2><pre>" + html.EscapeString(md.String()) + "</pre></body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderSoakDir re-reads a soak's directory — soak.json for the scenario, lots and uploads,
// samples.jsonl for the samples (the file written first, so a run that died between the two
// keeps every sample) — analyzes it again and rewrites soak.json, soak.md and soak.html.
// It is `relaycast loadtest --soak-report DIR`: a report of a run that is still going, was
// killed, or was analyzed by an older version.
func RenderSoakDir(dir string) (*SoakReport, error) {
	var r SoakReport
	b, err := os.ReadFile(filepath.Join(dir, "soak.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("soak.json: %w", err)
	}
	if b, err = os.ReadFile(filepath.Join(dir, "samples.jsonl")); err == nil {
		var samples []SoakSample
		for _, line := range bytes.Split(b, []byte("\n")) {
			var s SoakSample
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &s) != nil {
				continue // a line cut by a kill
			}
			samples = append(samples, s)
		}
		if len(samples) >= len(r.Samples) {
			r.Samples = samples
		}
	}
	r.Analyze()
	s := &soak{sp: SoakParams{OutDir: dir}, rep: &r}
	return &r, s.writeReports()
}
