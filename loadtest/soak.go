package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The soak scenario (`relaycast loadtest --soak OUTDIR`, loadtest/soak.sh): one room held for
// a long time with everything a live-selling show does at once — video viewers that churn
// (ChurnPct of them leave and rejoin every ChurnEvery), chatters, a lot every LotEvery with
// LotBidders bidding until the seller ends it (each lot's bid log checked, livecheck.go), an
// upload every UploadEvery that the server transcodes, and the server's own recording of the
// broadcast. Every SampleEvery it samples the server (RSS, goroutines, open fds, threads, CPU:
// /proc/<pid> and /metrics) and the generator's counters, appends the sample to
// OUTDIR/samples.jsonl and rewrites OUTDIR/soak.json, soak.md and soak.html, so a run cut short
// still leaves its report. After the load stops it samples After more to show the return to
// baseline (soakreport.go: trend and verdict).

// SoakParams configures a soak. Zero values take the defaults of withDefaults.
type SoakParams struct {
	// Base carries the server (URL, Room, Token: a publish token of Room, Mint, ServerPID,
	// FFmpegPath, Bitrate, Logger, Progress, JoinTimeout, MaxInFlight).
	Base        Params
	OutDir      string        // where samples.jsonl and the report go (required)
	Duration    time.Duration // load time (default 1h)
	After       time.Duration // sampling after the load stopped (default 5m: an idle Go process GCs every 2 min, and a sync.Pool frees after two GCs)
	SampleEvery time.Duration // default 30s
	Viewers     int           // lean synthetic video viewers (default 100)
	ChurnPct    float64       // percent of viewers that leave and rejoin each ChurnEvery (default 10)
	ChurnEvery  time.Duration // default 1m
	Chatters    int           // default 20, one message per second each
	ChatViewers int           // guest sockets that receive the chat (its loss is counted on them; default 5)
	LotEvery    time.Duration // a new lot every (default 2m)
	LotBidders  int           // bidders per lot (default 50)
	LotBidRate  float64       // bids per second, all bidders of a lot (default 25)
	UploadEvery time.Duration // default 5m
	UploadFile  string        // the media file uploaded each time (required unless UploadEvery < 0)
}

// orDefault sets *p to v when it is the zero value.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (sp SoakParams) withDefaults() SoakParams {
	orDefault(&sp.Duration, time.Hour)
	orDefault(&sp.After, 5*time.Minute)
	orDefault(&sp.SampleEvery, 30*time.Second)
	orDefault(&sp.ChurnEvery, time.Minute)
	orDefault(&sp.LotEvery, 2*time.Minute)
	orDefault(&sp.UploadEvery, 5*time.Minute)
	orDefault(&sp.Viewers, 100)
	orDefault(&sp.ChurnPct, 10)
	orDefault(&sp.Chatters, 20)
	orDefault(&sp.ChatViewers, 5)
	orDefault(&sp.LotBidders, 50)
	orDefault(&sp.LotBidRate, 25)
	b := sp.Base
	b.Viewers, b.ViewerKind, b.Signaling = sp.Viewers, ViewerLean, SignalingWHEP
	b.Publisher = PublisherSynthetic
	sp.Base = b.withDefaults()
	return sp
}

// Validate reports the first unusable parameter, wrapping ErrBadParams.
func (sp SoakParams) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: soak: %s", ErrBadParams, fmt.Sprintf(format, a...))
	}
	switch {
	case sp.OutDir == "":
		return bad("an output directory is required (--soak DIR)")
	case sp.Base.URL == "" || sp.Base.Room == "" || sp.Base.Token == "":
		return bad("--url, --room and --token (a publish token of the room) are required")
	case sp.Base.Mint == nil:
		return bad("bidders and chatters need minted tokens: the server's --data-dir or --auth-secret")
	case sp.Viewers < 0 || sp.Viewers > 5000 || sp.Chatters < 0 || sp.LotBidders < 0 || sp.ChatViewers < 0:
		return bad("counts must be >= 0 (viewers at most 5000)")
	case sp.ChurnPct < 0 || sp.ChurnPct > 100:
		return bad("churn must be 0..100 percent")
	case sp.Duration < 10*time.Second || sp.Duration > 48*time.Hour:
		return bad("duration must be 10s..48h")
	case sp.SampleEvery < time.Second || sp.ChurnEvery < time.Second || sp.LotEvery < 20*time.Second:
		return bad("sample and churn intervals at least 1s, lots at least 20s apart")
	case sp.UploadEvery > 0 && sp.UploadFile == "":
		return bad("uploads need a media file (--soak-upload FILE)")
	}
	return nil
}

// RunSoak runs the soak and returns its report (also written to OutDir as it goes). Every
// goroutine and connection it started has ended when it returns. Cancelling ctx stops the
// load early; the report of what ran is still written and returned with ctx's error.
func RunSoak(ctx context.Context, sp SoakParams) (*SoakReport, error) {
	sp = sp.withDefaults()
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sp.OutDir, 0o755); err != nil {
		return nil, err
	}
	s := &soak{sp: sp, log: sp.Base.Logger.With("component", "loadtest.soak"), scr: newScraper(sp.Base.URL, sp.Base.ServerPID)}
	return s.run(ctx)
}

type soak struct {
	sp  SoakParams
	log *slog.Logger
	scr *scraper

	start  time.Time
	rep    *SoakReport
	jsonl  *os.File
	prev   soakServer
	prevVL soakVideoTotals

	viewers *soakViewers
	chat    *liveRun
	lots    *soakLots
	uploads *soakUploads
}

func (s *soak) progressf(format string, a ...any) {
	if s.sp.Base.Progress != nil {
		fmt.Fprintf(s.sp.Base.Progress, format+"\n", a...)
	}
}

func (s *soak) run(ctx context.Context) (*SoakReport, error) {
	sp := s.sp
	s.start = time.Now()
	s.rep = &SoakReport{Started: s.start, Params: soakReportParams(sp)}
	f, err := os.Create(filepath.Join(sp.OutDir, "samples.jsonl"))
	if err != nil {
		return nil, err
	}
	s.jsonl = f
	defer f.Close()

	// baseline: the server before any load (no CPU figure: no interval yet)
	s.sample(ctx, "baseline")

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	pubs, err := startPublishers(loadCtx, sp.Base)
	if err != nil {
		return s.finish(err)
	}
	var wg sync.WaitGroup
	s.viewers = newSoakViewers(sp)
	s.lots = newSoakLots(sp)
	s.uploads = newSoakUploads(sp)
	time.Sleep(sp.Base.Warmup)
	s.chat = newLiveRun(withLive(sp.Base, 0, sp.Chatters, sp.ChatViewers, 0, float64(sp.Chatters)))
	if sp.Chatters > 0 {
		if err := s.chat.setup(loadCtx); err != nil {
			s.rep.Notes = append(s.rep.Notes, "chat setup: "+err.Error())
		}
		s.chat.start()
	}
	wg.Add(3)
	go func() { defer wg.Done(); s.viewers.run(loadCtx) }()
	go func() { defer wg.Done(); s.lots.run(loadCtx) }()
	go func() { defer wg.Done(); s.uploads.run(loadCtx) }()
	s.progressf("soak: %d lean viewers (churn %g%% every %s), %d chatters, a lot every %s with %d bidders, an upload every %s, for %s",
		sp.Viewers, sp.ChurnPct, sp.ChurnEvery, sp.Chatters, sp.LotEvery, sp.LotBidders, sp.UploadEvery, sp.Duration)

	end := s.start.Add(sp.Duration)
	interrupted := !s.loop(ctx, "load", end)
	// stop the load: lots end (their logs checked), uploads finish, viewers and chat leave
	stopLoad()
	wg.Wait()
	s.chat.halt()
	s.chat.close()
	s.viewers.close()
	pubs.close()
	s.rep.LoadEnded = time.Now()
	s.sample(ctx, "stopped")
	if !interrupted {
		s.uploads.awaitReady(ctx, 2*time.Minute)
		interrupted = !s.loop(ctx, "after", time.Now().Add(sp.After))
	}
	if interrupted {
		return s.finish(ctx.Err())
	}
	return s.finish(nil)
}

func (s *soak) finish(err error) (*SoakReport, error) {
	s.rep.Ended = time.Now()
	s.rep.Interrupted = err != nil
	if err != nil {
		s.rep.Notes = append(s.rep.Notes, "stopped early: "+err.Error())
	}
	s.fillTotals()
	s.rep.Analyze()
	if werr := s.writeReports(); werr != nil && err == nil {
		err = werr
	}
	return s.rep, err
}

// withLive is p with the live-room counts of one liveRun.
func withLive(p Params, bidders, chatters, viewers, stalled int, rate float64) Params {
	p.Bidders, p.Chatters, p.LiveViewers, p.Stalled = bidders, chatters, viewers, stalled
	p.BidRate, p.ChatRate = 0, 0
	if bidders > 0 {
		p.BidRate = rate
	} else {
		p.ChatRate = rate
	}
	return p
}

// loop samples every SampleEvery until deadline (true) or ctx ends (false).
func (s *soak) loop(ctx context.Context, phase string, deadline time.Time) bool {
	for {
		next := time.Now().Add(s.sp.SampleEvery)
		if next.After(deadline) {
			next = deadline
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		s.sample(ctx, phase)
		if !time.Now().Before(deadline) {
			return true
		}
	}
}

// soakServer is one reading of the server.
type soakServer struct {
	at                          time.Time
	cpu                         float64 // seconds
	rss, goroutines, fds        float64
	threads, viewers            float64
	procOK, metricsOK           bool
	metricsCPU, metricsRSS      float64
	heap, fdSockets, fdAccepted float64
	heapLive                    float64
}

func (s *soak) readServer(ctx context.Context) soakServer {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ss := s.scr.sample(sctx)
	out := soakServer{at: ss.at, metricsOK: ss.ok}
	if ss.ok {
		m := ss.metrics
		out.goroutines, out.fds, out.viewers = m["go_goroutines"], m["process_open_fds"], m[mViewers]
		out.metricsCPU, out.metricsRSS = m[mCPU], m[mRSS]
		out.rss, out.cpu = out.metricsRSS, out.metricsCPU
		out.heap = m["go_memstats_heap_inuse_bytes"]
		out.heapLive = m["go_gc_heap_live_bytes"]
	}
	if pid := s.sp.Base.ServerPID; pid > 0 {
		if pr, err := readProcSoak("/proc", pid); err == nil {
			out.procOK = true
			out.cpu, out.rss, out.fds, out.threads, out.fdSockets = pr.cpu, pr.rss, pr.fds, pr.threads, pr.sockets
			out.fdAccepted = acceptedSockets("/proc", pid, s.serverPort(), pr.inodes)
		}
	}
	return out
}

// sample takes one SoakSample, appends it to samples.jsonl and rewrites the reports.
func (s *soak) sample(ctx context.Context, phase string) {
	cur := s.readServer(ctx)
	smp := SoakSample{T: round3(cur.at.Sub(s.start).Seconds()), At: cur.at.UTC(), Phase: phase,
		RSSMB: round3(cur.rss / 1e6), HeapMB: round3(cur.heap / 1e6), HeapLiveMB: round3(cur.heapLive / 1e6), FDSockets: cur.fdSockets, FDAccepted: cur.fdAccepted, Goroutines: cur.goroutines, OpenFDs: cur.fds, Threads: cur.threads,
		ServerViewers: cur.viewers, ServerOK: cur.metricsOK || cur.procOK, Load1: loadAvg1(),
		GenGoroutines: runtime.NumGoroutine()}
	if dt := cur.at.Sub(s.prev.at).Seconds(); dt > 0 && s.prev.cpu > 0 && cur.cpu >= s.prev.cpu {
		smp.CPUCores = round3((cur.cpu - s.prev.cpu) / dt)
	}
	s.prev = cur
	if v := s.viewers; v != nil {
		t := v.totals()
		smp.Viewers, smp.ViewerJoins, smp.ViewerJoinFailures, smp.ViewerLeaves = t.connected, t.joins, t.failures, t.leaves
		smp.VideoPackets, smp.VideoLost = t.packets, t.lost
		smp.LossPct = round3(lossOf(t.packets-s.prevVL.packets, t.lost-s.prevVL.lost))
		s.prevVL = t
	}
	if c := s.chat; c != nil && c.p.Chatters > 0 {
		smp.ChatSent, smp.ChatRefused, smp.ChatDelivered = c.chatSent.Load(), c.chatRefused.Load(), c.chatDeliveries.Load()
		smp.ChatJoinFailures = c.joinFailed.Load()
		for _, ls := range c.socks {
			if ls != nil {
				st := ls.s.Stats()
				smp.ChatGaps += st.Gaps
				smp.ChatDups += st.Dups
				if st.Closed && phase == "load" {
					smp.LiveSocketsClosed++
				}
			}
		}
	}
	if l := s.lots; l != nil {
		lt := l.totals()
		smp.Lots, smp.BidsSent, smp.BidsAccepted, smp.BidErrors = lt.lots, lt.sent, lt.accepted, lt.errors
		smp.AcceptedLost, smp.DoubleAccepted, smp.BidderJoinFailures, smp.LotFailures = lt.lost, lt.double, lt.joinFailed, lt.failed
	}
	if u := s.uploads; u != nil {
		ut := u.totals()
		smp.Uploads, smp.UploadErrors, smp.UploadsReady, smp.UploadsFailed = ut.done, ut.errors, ut.ready, ut.failed
	}
	s.rep.Samples = append(s.rep.Samples, smp)
	if b, err := json.Marshal(smp); err == nil {
		_, _ = s.jsonl.Write(append(b, '\n'))
	}
	s.progressf("[%6.0fs %-8s] rss %.0f MB goroutines %.0f fds %.0f cpu %.2f | viewers %d (joins %d, failed %d) loss %.2f%% | chat %d sent %d delivered | lots %d bids %d accepted %d lost %d | uploads %d ready %d | load %.2f",
		smp.T, phase, smp.RSSMB, smp.Goroutines, smp.OpenFDs, smp.CPUCores, smp.Viewers, smp.ViewerJoins, smp.ViewerJoinFailures, smp.LossPct,
		smp.ChatSent, smp.ChatDelivered, smp.Lots, smp.BidsSent, smp.BidsAccepted, smp.AcceptedLost, smp.Uploads, smp.UploadsReady, smp.Load1)
	s.fillTotals()
	s.rep.Analyze()
	if err := s.writeReports(); err != nil {
		s.log.Warn("writing the soak report", "err", err)
	}
}

// fillTotals copies the scenario's totals into the report.
func (s *soak) fillTotals() {
	if s.lots != nil {
		s.rep.Lots = s.lots.results()
	}
	if s.uploads != nil {
		s.rep.Uploads = s.uploads.results()
	}
	if s.viewers != nil {
		s.rep.ViewerErrors = s.viewers.errors()
	}
	if s.chat != nil {
		s.chat.mu.Lock()
		s.rep.ChatErrors = append([]string(nil), s.chat.errs...)
		s.chat.mu.Unlock()
	}
}

func (s *soak) writeReports() error {
	for name, w := range map[string]func(*os.File) error{
		"soak.json": func(f *os.File) error { return s.rep.WriteJSON(f) },
		"soak.md":   func(f *os.File) error { return s.rep.WriteMarkdown(f) },
		"soak.html": func(f *os.File) error { return s.rep.WriteHTML(f) },
	} {
		path := filepath.Join(s.sp.OutDir, name)
		f, err := os.Create(path + ".tmp")
		if err != nil {
			return err
		}
		err = w(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	return nil
}

// serverPort is the port of the server's URL (0: unknown).
func (s *soak) serverPort() int {
	u, err := url.Parse(s.sp.Base.URL)
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(u.Port())
	return port
}
