// Package loadtest is relaycast's load harness: a publisher (synthetic Pion or a headless Chromium
// painting a clock), synthetic Pion viewers over WHEP or /ws, headless Chromium viewers on the real
// watch page, server CPU/RSS/bitrate from /metrics (and /proc for a local server), a JSON and an HTML
// report and pass/fail thresholds. It talks to the server over HTTP, WebSocket and WebRTC only.
package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/relaycast/relaycast/client"
)

// Run performs one load run and returns its report. Every goroutine, peer connection and browser
// it started has ended when it returns. Cancelling ctx (Ctrl-C) stops the run early; the report of
// what was measured so far is still returned (Interrupted set) with ctx's error.
// The returned report has been evaluated against p.Thresholds (Report.Pass).
func Run(ctx context.Context, p Params) (*Report, error) {
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	r := &runner{p: p, log: p.Logger.With("component", "loadtest"), scr: newScraper(p.URL, p.ServerPID)}
	return r.run(ctx)
}

type runner struct {
	p   Params
	log *slog.Logger
	scr *scraper

	start   time.Time
	samples []Sample
	errs    int

	synth *synthPool
	hls   *hlsPool // hlsviewers.go
	brows *browserPool
	bpub  *browserPublisher

	prevServer serverSample
	prevSynth  synthTotals
	prevLat    histSnap
	prevG2G    histSnap
	prevBrowse browserTotals
	prevPubB   float64
	prevAt     time.Time

	live *liveRun // the live scenario (nil: none)

	hold    holdMark
	hlsMark hlsMark
	holdIdx int
	mark    map[*synthViewer]client.Stats // every viewer's stats at the start of the hold
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	p := r.p
	r.start = time.Now()
	rep := &Report{Started: r.start, Params: ReportParams{
		URL: p.URL, Room: p.Room, Viewers: p.Viewers, BrowserViewers: p.BrowserViewers,
		DurationS: p.Duration.Seconds(), Ramp: p.Ramp, WarmupS: p.Warmup.Seconds(), Publisher: p.Publisher,
		Bitrate: p.Bitrate, Signaling: p.Signaling, ServerPID: p.ServerPID,
		Simulcast: p.Simulcast, Quality: p.Quality, LeanNoGRO: p.LeanNoGRO,
		Bidders: p.Bidders, Chatters: p.Chatters, ChatRate: p.ChatRate, LiveViewers: p.LiveViewers, BidRate: p.BidRate,
		Stalled: p.Stalled, Rooms: max(p.Rooms, 1), HLSViewers: p.HLSViewers,
	}}
	if p.liveEnabled() {
		rep.Params.LotDurationS = p.LotDuration.Seconds()
	}
	r.synth = newSynthPool(p)
	r.hls = newHLSPool(p)
	r.brows = newBrowserPool(p, p.Publisher == PublisherBrowser)
	r.prevServer = r.scr.sample(ctx)
	if !r.prevServer.ok {
		rep.Notes = append(rep.Notes, "could not read "+p.URL+"/metrics at the start: server CPU/RSS not measured")
	}
	if p.ServerPID > 0 && !r.prevServer.procOK {
		rep.Notes = append(rep.Notes, fmt.Sprintf("could not read /proc/%d: no /proc cross-check", p.ServerPID))
	}
	r.prevAt = time.Now()
	r.progressf("loadtest %s room %s: publisher %s, %d synthetic (%s) + %d browser viewers, ramp %g/s, hold %s",
		p.URL, p.Room, p.Publisher, p.Viewers, p.Signaling, p.BrowserViewers, p.Ramp, p.Duration)
	if p.Rooms > 1 {
		r.progressf("%d rooms (%s … %s), each with its own publisher; viewers spread over them", p.Rooms, p.RoomName(0), p.RoomName(p.Rooms-1))
	}
	if p.liveEnabled() {
		r.progressf("live room: %d bidders (%g bids/s), %d chatters (%g msgs/s), %d viewer sockets, %d stalled",
			p.Bidders, p.BidRate, p.Chatters, p.ChatRate, p.LiveViewers, p.Stalled)
	}

	// --- publisher ---
	switch p.Publisher {
	case PublisherSynthetic, PublisherFile:
		pubs, err := startPublishers(ctx, p) // rooms.go: one per room
		if err != nil {
			return nil, err
		}
		defer pubs.close()
	case PublisherBrowser:
		bpub, err := startBrowserPublisher(ctx, p)
		if err != nil {
			return nil, err
		}
		r.bpub = bpub
		defer bpub.close()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		r.synth.close()
		r.hls.close()
		r.brows.close()
	}()

	finish := func(interrupted bool) (*Report, error) {
		if r.live != nil {
			r.live.halt()
			fctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			rep.Live = r.live.finish(fctx)
			cancel()
		}
		r.report(rep)
		rep.Interrupted = interrupted
		rep.Evaluate(p.Thresholds)
		if interrupted {
			return rep, ctx.Err()
		}
		return rep, nil
	}

	// --- warm-up ---
	if !r.loop(ctx, "warmup", time.Now().Add(p.Warmup), nil) {
		return finish(true)
	}
	// --- live room: every socket joins, the lot opens ---
	if p.liveEnabled() {
		r.live = newLiveRun(p)
		defer r.live.close()
		r.progressf("live room: joining %d sockets", p.Bidders+p.Chatters+p.LiveViewers+p.Stalled)
		if err := r.live.setup(runCtx); err != nil {
			if ctx.Err() != nil {
				return finish(true)
			}
			return nil, fmt.Errorf("live setup: %w", err)
		}
		r.progressf("live room: %d sockets joined, %d failed", len(r.live.socks)-int(r.live.joinFailed.Load()), r.live.joinFailed.Load())
	}
	// --- ramp ---
	r.synth.start(runCtx)
	r.hls.start(runCtx)
	r.brows.start(runCtx)
	rampMax := time.Duration(float64(p.Viewers+p.BrowserViewers+p.HLSViewers)/p.Ramp*float64(time.Second)) + p.JoinTimeout + 30*time.Second*time.Duration(1+p.BrowserViewers/p.TabsPerBrowser)
	ramped := func() bool {
		select {
		case <-r.synth.rampDone:
		default:
			return false
		}
		select {
		case <-r.brows.started:
		default:
			return false
		}
		select {
		case <-r.hls.started:
		default:
			return false
		}
		return r.browsersSettled()
	}
	if !r.loop(ctx, "ramp", time.Now().Add(rampMax), ramped) {
		return finish(true)
	}
	if !ramped() {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the ramp did not finish within %s; holding anyway", rampMax))
	}
	// --- hold ---
	r.holdStart()
	if r.live != nil {
		r.live.start()
	}
	if !r.loop(ctx, "hold", time.Now().Add(p.Duration), nil) {
		r.holdEnd(rep)
		return finish(true)
	}
	r.holdEnd(rep)
	return finish(false)
}

// browsersSettled: every browser tab plays, failed, or had 30 s since its navigation.
func (r *runner) browsersSettled() bool {
	for _, v := range r.brows.viewers {
		v.mu.Lock()
		ok := v.err != "" || (v.polled && (v.last.FirstFrame > 0 || v.last.State == "error")) ||
			(!v.navStart.IsZero() && time.Since(v.navStart) > 30*time.Second)
		v.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// loop samples every interval until the deadline or done() (true), or ctx ends (false).
func (r *runner) loop(ctx context.Context, phase string, deadline time.Time, done func() bool) bool {
	t := time.NewTicker(r.p.Interval)
	defer t.Stop()
	for {
		if done != nil && done() {
			return true
		}
		if !time.Now().Before(deadline) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		r.tick(ctx, phase)
	}
}

// tick records one Sample and prints a progress line.
func (r *runner) tick(ctx context.Context, phase string) {
	now := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	ss := r.scr.sample(sctx)
	cancel()
	if !ss.ok {
		r.errs++
	}
	st := r.synth.totals()
	lat := r.synth.latency.snapshot()
	g2g := r.brows.g2gInterval.snapshot()
	bt := r.brows.totals()
	dt := now.Sub(r.prevAt).Seconds()

	s := Sample{
		T: round3(now.Sub(r.start).Seconds()), Phase: phase,
		Viewers: r.synth.connected.Load() - st.disconnected, BrowserViewers: bt.playing,
		CPUCores:     round3(rate(r.prevServer, ss, mCPU)),
		ProcCPUCores: round3(procRate(r.prevServer, ss)),
		ForwardedBps: round3(rate(r.prevServer, ss, mSentBytes) * 8),
		LossPct:      round3(lossOf(st.packets-r.prevSynth.packets, st.lost-r.prevSynth.lost)),
		Freezes:      bt.freezes,
	}
	if ss.ok {
		s.ServerViewers, s.RSSBytes = ss.metrics[mViewers], ss.metrics[mRSS]
	}
	if dt > 0 {
		s.ReceivedBps = round3(float64(st.bytes-r.prevSynth.bytes) * 8 / dt)
	}
	ld := lat.sub(r.prevLat).dist()
	s.LatencyP50, s.LatencyP95, s.LatencyP99 = ld.P50, ld.P95, ld.P99
	gd := g2g.sub(r.prevG2G).dist()
	s.G2GP50, s.G2GP95 = gd.P50, gd.P95
	if de := bt.jbe - r.prevBrowse.jbe; de > 0 {
		s.JitterBufferMs = round3(1000 * (bt.jbd - r.prevBrowse.jbd) / de)
	}
	if df := bt.fd - r.prevBrowse.fd; df > 0 {
		s.ProcessingMs = round3(1000 * (bt.tpd - r.prevBrowse.tpd) / float64(df))
	}
	liveLine := ""
	if r.live != nil && phase == "hold" {
		liveLine = r.live.sample(&s, dt)
	}
	r.samples = append(r.samples, s)
	var pubMbps float64
	if r.bpub != nil {
		b := r.bpub.bytesSent(ctx)
		if dt > 0 && r.prevPubB > 0 && b >= r.prevPubB {
			pubMbps = (b - r.prevPubB) * 8 / dt / 1e6
		}
		r.prevPubB = b
	}
	r.prevServer, r.prevSynth, r.prevLat, r.prevG2G, r.prevBrowse, r.prevAt = ss, st, lat, g2g, bt, now

	line := fmt.Sprintf("[%5.0fs %-6s] viewers %d/%d", s.T, phase, s.Viewers, r.p.Viewers)
	if r.p.BrowserViewers > 0 {
		line += fmt.Sprintf(" browsers %d/%d", s.BrowserViewers, r.p.BrowserViewers)
	}
	if f := r.synth.failed.Load(); f > 0 {
		line += fmt.Sprintf(" failed %d", f)
	}
	line += fmt.Sprintf(" | fwd %.1f Mb/s loss %.2f%%", s.ForwardedBps/1e6, s.LossPct)
	if ld.Count > 0 {
		line += fmt.Sprintf(" lat p50/p99 %.1f/%.1f ms", s.LatencyP50, s.LatencyP99)
	}
	if gd.Count > 0 {
		line += fmt.Sprintf(" g2g p50/p95 %.0f/%.0f ms", s.G2GP50, s.G2GP95)
	}
	if s.JitterBufferMs > 0 {
		line += fmt.Sprintf(" jb+proc %.0f ms", s.JitterBufferMs+s.ProcessingMs)
	}
	if r.bpub != nil {
		line += fmt.Sprintf(" pub %.2f Mb/s", pubMbps)
	}
	line += fmt.Sprintf(" | server cpu %.2f cores", s.CPUCores)
	if r.p.ServerPID > 0 {
		line += fmt.Sprintf(" (/proc %.2f)", s.ProcCPUCores)
	}
	line += fmt.Sprintf(" rss %.0f MB", s.RSSBytes/1e6)
	r.progressf("%s%s", line, liveLine)
}

// hold-window bookkeeping
type holdMark struct {
	at     time.Time
	server serverSample
	synth  synthTotals
	lat    histSnap
}

func (r *runner) holdStart() {
	r.brows.markHold()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.hold = holdMark{at: time.Now(), server: r.scr.sample(sctx), synth: r.synth.totals(), lat: r.synth.latency.snapshot()}
	r.holdIdx = len(r.samples)
	r.mark = r.synth.markViewers()
	r.hlsMark = r.hls.mark()
}

func (r *runner) holdEnd(rep *Report) {
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	end := r.scr.sample(sctx)
	st := r.synth.totals()
	h := r.hold
	dt := end.at.Sub(h.at).Seconds()
	rep.HoldSeconds = round3(dt)
	syn := &rep.Synthetic
	syn.Packets, syn.Lost = st.packets-h.synth.packets, st.lost-h.synth.lost
	syn.LossPct = round3(lossOf(syn.Packets, syn.Lost))
	syn.Latency = r.synth.latency.snapshot().sub(h.lat).dist()
	if n := r.synth.connected.Load(); n > 0 && dt > 0 {
		syn.MbpsPerViewer = round3(float64(st.bytes-h.synth.bytes) * 8 / dt / 1e6 / float64(n))
	}
	srv := &rep.Server
	srv.CPUCoresMean = round3(rate(h.server, end, mCPU))
	srv.ProcCPUCoresMean = round3(procRate(h.server, end))
	srv.ForwardedMbps = round3(rate(h.server, end, mSentBytes) * 8 / 1e6)
	srv.Measured, srv.ProcMeasured = h.server.ok && end.ok, h.server.procOK && end.procOK
	if h.server.ok && end.ok {
		srv.PacketsSent = end.metrics[mSentPackets] - h.server.metrics[mSentPackets]
		srv.PacketsDropped = end.metrics[mDropped] - h.server.metrics[mDropped]
	}
	viewers := float64(r.synth.connected.Load()-st.disconnected) + float64(r.brows.totals().playing)
	if srv.CPUCoresMean > 0 && viewers > 0 {
		srv.ViewersPerCore = round3(viewers / srv.CPUCoresMean)
		srv.CPUMsPerViewerS = round3(1000 * srv.CPUCoresMean / viewers)
	}
	for _, s := range r.samples[r.holdIdx:] {
		srv.CPUCoresMax = max(srv.CPUCoresMax, s.CPUCores)
	}
	if end.ok {
		srv.RSSMaxBytes = end.metrics[mRSS]
	}
	srv.ProcRSSMaxBytes = end.procRSS
	for _, s := range r.samples[r.holdIdx:] {
		srv.RSSMaxBytes = max(srv.RSSMaxBytes, s.RSSBytes)
	}
	if len(r.brows.viewers) > 0 {
		rep.Browser = r.brows.summary(dt)
	}
	r.synth.holdExtras(rep, r.mark, dt)
	rep.RTCP.addServer(h.server, end, dt)
	rep.Rooms = r.synth.roomSummaries(r.mark) // rooms.go
	if rep.HLS = r.hls.summary(r.hlsMark, dt); rep.HLS != nil && srv.CPUCoresMean > 0 && viewers == 0 {
		srv.ViewersPerCore = round3(float64(rep.HLS.Active) / srv.CPUCoresMean)
		srv.CPUMsPerViewerS = round3(1000 * srv.CPUCoresMean / float64(max(rep.HLS.Active, 1)))
	}
	rep.Recording = findRecording(sctx, r.synth.hc, r.p, r.start)
}

// report fills the parts that do not depend on the hold window.
func (r *runner) report(rep *Report) {
	rep.Ended = time.Now()
	rep.Samples = r.samples
	rep.Server.ScrapeErrors = r.errs
	syn := &rep.Synthetic
	syn.Target, syn.Signaling = r.p.Viewers, r.p.Signaling
	syn.Connected, syn.Failed = r.synth.connected.Load(), r.synth.failed.Load()
	syn.Disconnected = r.synth.totals().disconnected
	syn.Join = r.synth.join.snapshot().dist()
	syn.FirstKeyframe = r.synth.firstKeyframes()
	syn.FirstErrors = r.synth.errors()
	if r.bpub != nil {
		rep.Ramp = r.bpub.ramp.summary()
	}
	if rep.Browser == nil && len(r.brows.viewers) > 0 {
		rep.Browser = r.brows.summary(0)
	}
}

func (r *runner) progressf(format string, a ...any) {
	if r.p.Progress != nil {
		fmt.Fprintf(r.p.Progress, format+"\n", a...)
	}
}
