package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumFlags is the whole flag list (chromedp's defaults are not used): headless, loopback-only
// WebRTC, fake capture devices, no background traffic, no throttling of background tabs. Every
// browser gets a fresh temporary profile that chromedp removes on exit.
func chromiumFlags(execPath string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// No mDNS announcements of host candidates: all WebRTC traffic stays on loopback.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("use-fake-device-for-media-stream", "fps=30"),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
	}
}

// browser is one Chromium process; tabs are chromedp contexts derived from ctx.
type browser struct {
	ctx         context.Context
	cancel      context.CancelFunc // closes the browser
	cancelAlloc context.CancelFunc // waits for the process to exit
}

func startBrowser(parent context.Context, execPath string) (*browser, error) {
	actx, acancel := chromedp.NewExecAllocator(context.WithoutCancel(parent), chromiumFlags(execPath)...)
	bctx, bcancel := chromedp.NewContext(actx)
	// The first Do must get bctx itself (a derived context would own the browser and close it
	// when it ends); a timer bounds the start instead.
	t := time.AfterFunc(30*time.Second, bcancel)
	err := chromedp.Do(bctx) // starts the browser
	if !t.Stop() && err == nil {
		err = context.DeadlineExceeded
	}
	if err != nil {
		bcancel()
		acancel()
		return nil, fmt.Errorf("%w: start %s: %w", ErrBrowser, execPath, err)
	}
	return &browser{ctx: bctx, cancel: bcancel, cancelAlloc: acancel}, nil
}

func (b *browser) close() {
	cctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	_ = chromedp.Cancel(cctx)
	cancel()
	b.cancel()
	b.cancelAlloc() // kills what is left and waits for the process
}

// initJS runs in the watch page before its own scripts: it notes when the first video frame was
// presented and when <video> started playing (ms since navigation start).
const initJS = `(() => {
  const lt = (window.__lt = { firstFrame: 0, playing: 0 });
  const hook = () => {
    for (const id of ["video", "hls-video"]) { // hls-video: the watch page's delayed mode
      const v = document.getElementById(id);
      if (!v) continue;
      v.addEventListener("playing", () => { if (!lt.playing) lt.playing = performance.now(); });
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => { if (!lt.firstFrame) lt.firstFrame = performance.now(); });
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", hook); else hook();
})();`

// statsJS reads the watch page's peer connection stats and the clock samples.
const statsJS = `(async () => {
  const rc = window.relaycast;
  const lt = window.__lt || {};
  const hlsShown = !!(rc && rc.hls && rc.hls.shown === "hls" && rc.hls.playing);
  const o = { state: rc ? (hlsShown ? "playing" : rc.state) : "none", firstFrame: lt.firstFrame || 0, playing: lt.playing || 0, clock: [], v: null, a: null };
  if (rc && rc.readClock && %t) { try { o.clock = rc.readClock() || []; } catch (e) {} }
  const pc = rc && rc.pc;
  if (!pc) return o;
  const st = await pc.getStats();
  st.forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "video") o.v = { jbd: r.jitterBufferDelay || 0, jbe: r.jitterBufferEmittedCount || 0,
      tpd: r.totalProcessingDelay || 0, fd: r.framesDecoded || 0, fdr: r.framesDropped || 0,
      fc: r.freezeCount || 0, tfd: r.totalFreezesDuration || 0, pl: r.packetsLost || 0,
      pr: r.packetsReceived || 0, nack: r.nackCount || 0, pli: r.pliCount || 0, br: r.bytesReceived || 0,
      w: r.frameWidth || 0, h: r.frameHeight || 0, fps: r.framesPerSecond || 0 };
    if (r.kind === "audio") o.a = { pl: r.packetsLost || 0, pr: r.packetsReceived || 0 };
  });
  return o;
})()`

type pageStats struct {
	State      string    `json:"state"`
	FirstFrame float64   `json:"firstFrame"`
	Playing    float64   `json:"playing"`
	Clock      []float64 `json:"clock"`
	V          *videoIn  `json:"v"`
}

type videoIn struct {
	JBD  float64 `json:"jbd"`
	JBE  float64 `json:"jbe"`
	TPD  float64 `json:"tpd"`
	FD   int64   `json:"fd"`
	FDr  int64   `json:"fdr"`
	FC   int64   `json:"fc"`
	TFD  float64 `json:"tfd"`
	PL   int64   `json:"pl"`
	PR   int64   `json:"pr"`
	Nack int64   `json:"nack"`
	Pli  int64   `json:"pli"`
	BR   float64 `json:"br"`
	W    int     `json:"w"`
	H    int     `json:"h"`
	FPS  float64 `json:"fps"`
}

// browserPool owns the Chromium viewers: ceil(n/TabsPerBrowser) browsers, one watch tab each viewer.
type browserPool struct {
	p       Params
	log     *slog.Logger
	clock   bool // the publisher paints the clock: read it
	holding atomic.Bool

	g2gInterval hist // all clock samples, for the timeline
	g2gHold     hist // clock samples in the hold window

	mu       sync.Mutex
	browsers []*browser
	viewers  []*browserViewer
	started  chan struct{} // closed when every tab navigated (or failed)
	wg       sync.WaitGroup
}

type browserViewer struct {
	idx      int
	mu       sync.Mutex
	last     pageStats
	holdFrom *videoIn // cumulative counters at the start of the hold window
	g2g      hist
	navStart time.Time
	err      string
	polled   bool
}

func newBrowserPool(p Params, clock bool) *browserPool {
	bp := &browserPool{p: p, log: p.Logger.With("component", "loadtest.browser"), clock: clock, started: make(chan struct{})}
	for i := range p.BrowserViewers {
		bp.viewers = append(bp.viewers, &browserViewer{idx: i})
	}
	return bp
}

// start launches browsers and tabs in the background; each tab polls its stats until ctx ends.
func (bp *browserPool) start(ctx context.Context) {
	if len(bp.viewers) == 0 {
		close(bp.started)
		return
	}
	bp.wg.Add(1)
	go func() {
		defer bp.wg.Done()
		defer close(bp.started)
		watchURL := fmt.Sprintf("%s/watch/%s", bp.p.URL, url.PathEscape(bp.p.Room))
		if bp.p.ViewerToken != "" {
			watchURL += "?token=" + url.QueryEscape(bp.p.ViewerToken)
		}
		watchURL = withViewerMode(watchURL, bp.p.BrowserViewerMode)
		var b *browser
		every := time.Duration(float64(time.Second) / bp.p.Ramp)
		for i, v := range bp.viewers {
			if ctx.Err() != nil {
				return
			}
			if i%bp.p.TabsPerBrowser == 0 {
				var err error
				b, err = startBrowser(ctx, bp.p.ChromiumPath)
				if err != nil {
					bp.log.Error("cannot start chromium", "err", err)
					for _, rest := range bp.viewers[i:] {
						rest.setErr(err.Error())
					}
					return
				}
				bp.mu.Lock()
				bp.browsers = append(bp.browsers, b)
				bp.mu.Unlock()
			}
			tab, cancel := chromedp.NewContext(b.ctx)
			bp.wg.Add(1)
			go func() {
				defer bp.wg.Done()
				defer cancel()
				bp.runTab(ctx, tab, v, watchURL)
			}()
			select {
			case <-time.After(max(every, 200*time.Millisecond)):
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (bp *browserPool) runTab(ctx, tab context.Context, v *browserViewer, watchURL string) {
	// The first Do on a tab context creates the tab and must get the tab context itself.
	t0 := time.AfterFunc(30*time.Second, func() { _ = chromedp.Cancel(tab) })
	err := chromedp.Do(tab)
	t0.Stop()
	if err != nil {
		v.setErr("open tab: " + err.Error())
		return
	}
	nctx, ncancel := context.WithTimeout(tab, 30*time.Second)
	err = chromedp.Do(nctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: initJS})
			return err
		}),
	)
	if err == nil {
		v.mu.Lock()
		v.navStart = time.Now()
		v.mu.Unlock()
		err = chromedp.Do(nctx, chromedp.Navigate(watchURL))
	}
	ncancel()
	if err != nil {
		v.setErr("navigate: " + err.Error())
		return
	}
	js := fmt.Sprintf(statsJS, bp.clock)
	t := time.NewTicker(min(bp.p.Interval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ectx, ecancel := context.WithTimeout(tab, 5*time.Second)
		st, err := chromedp.Run(ectx, chromedp.Evaluate[pageStats](js, chromedp.EvalAwaitPromise))
		ecancel()
		if err != nil {
			if ctx.Err() == nil {
				v.setErr("stats: " + err.Error())
			}
			continue
		}
		holding := bp.holding.Load()
		for _, ms := range st.Clock {
			d := time.Duration(ms * float64(time.Millisecond))
			bp.g2gInterval.Record(d)
			if holding {
				bp.g2gHold.Record(d)
				v.g2g.Record(d)
			}
		}
		st.Clock = nil
		v.mu.Lock()
		v.last = st
		v.polled = true
		v.mu.Unlock()
	}
}

func (v *browserViewer) setErr(s string) {
	v.mu.Lock()
	v.err = s
	v.mu.Unlock()
}

// markHold starts the hold window: per-viewer counters are measured from here.
func (bp *browserPool) markHold() {
	bp.holding.Store(true)
	for _, v := range bp.viewers {
		v.mu.Lock()
		if v.last.V != nil {
			c := *v.last.V
			v.holdFrom = &c
		} else {
			v.holdFrom = &videoIn{}
		}
		v.mu.Unlock()
	}
}

// browserTotals sums the tabs' cumulative counters.
type browserTotals struct {
	playing       int64
	jbd, jbe, tpd float64
	fd, freezes   int64
}

func (bp *browserPool) totals() browserTotals {
	var t browserTotals
	for _, v := range bp.viewers {
		v.mu.Lock()
		if v.last.State == "playing" {
			t.playing++
		}
		if s := v.last.V; s != nil {
			t.jbd += s.JBD
			t.jbe += s.JBE
			t.tpd += s.TPD
			t.fd += s.FD
			t.freezes += s.FC
		}
		v.mu.Unlock()
	}
	return t
}

// summary builds the browser part of the report (hold window for rates and delays).
func (bp *browserPool) summary(holdSeconds float64) *BrowserSummary {
	s := &BrowserSummary{Target: len(bp.viewers), G2G: bp.g2gHold.snapshot().dist()}
	var first, jb, proc, both []float64
	var recv, lost int64
	for _, v := range bp.viewers {
		v.mu.Lock()
		bv := BrowserViewer{Index: v.idx, State: v.last.State, Error: v.err, G2G: v.g2g.snapshot().dist()}
		if v.last.State == "playing" {
			s.Playing++
		}
		bv.FirstFrameMs = round3(v.last.FirstFrame)
		bv.PlayingMs = round3(v.last.Playing)
		if bv.FirstFrameMs > 0 {
			first = append(first, bv.FirstFrameMs)
		}
		if cur := v.last.V; cur != nil {
			from := v.holdFrom
			if from == nil || cur.JBE < from.JBE { // no hold window, or the connection restarted
				from = &videoIn{}
			}
			if de := cur.JBE - from.JBE; de > 0 {
				bv.JitterBufferMs = round3(1000 * (cur.JBD - from.JBD) / de)
			}
			if df := cur.FD - from.FD; df > 0 {
				bv.ProcessingMs = round3(1000 * (cur.TPD - from.TPD) / float64(df))
			}
			bv.FramesDecoded, bv.FramesDropped = cur.FD, cur.FDr
			bv.FreezeCount, bv.FreezesDurationS = cur.FC, round3(cur.TFD)
			bv.PacketsReceived, bv.PacketsLost = cur.PR-from.PR, cur.PL-from.PL
			bv.NackCount, bv.PliCount = cur.Nack, cur.Pli
			bv.Width, bv.Height, bv.FPS = cur.W, cur.H, round3(cur.FPS)
			if holdSeconds > 0 {
				bv.Mbps = round3((cur.BR - from.BR) * 8 / holdSeconds / 1e6)
			}
			if cur.JBE > 0 {
				jb = append(jb, bv.JitterBufferMs)
				proc = append(proc, bv.ProcessingMs)
				both = append(both, bv.JitterBufferMs+bv.ProcessingMs)
			}
			s.Freezes += cur.FC
			if holdSeconds > 0 {
				s.HoldFreezes += max(cur.FC-from.FC, 0)
			}
			recv += bv.PacketsReceived
			lost += max(bv.PacketsLost, 0)
		}
		v.mu.Unlock()
		s.Viewers = append(s.Viewers, bv)
	}
	s.FirstFrame, s.JitterBuffer, s.Processing, s.JBPlusProc = distOf(first), distOf(jb), distOf(proc), distOf(both)
	s.LossPct = round3(lossOf(recv, lost))
	return s
}

// close waits for the tabs (ctx must be done) and closes every browser.
func (bp *browserPool) close() {
	bp.wg.Wait()
	bp.mu.Lock()
	bs := bp.browsers
	bp.browsers = nil
	bp.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.close()
		}()
	}
	wg.Wait()
}

// browserPublisher is a headless Chromium on the broadcast page painting the clock (or the noise
// canvas); once live, its ramp sampler is the only reader of the page's stats.
type browserPublisher struct {
	b    *browser
	tab  context.Context
	ramp *rampSampler
}

func startBrowserPublisher(ctx context.Context, p Params) (*browserPublisher, error) {
	b, err := startBrowser(ctx, p.ChromiumPath)
	if err != nil {
		return nil, err
	}
	bp := &browserPublisher{b: b, tab: b.ctx}
	u := fmt.Sprintf("%s/broadcast/%s?token=%s&autostart=1&source=%s", p.URL, url.PathEscape(p.Room), url.QueryEscape(p.Token), url.QueryEscape(p.PublisherSource))
	if p.PublisherQuery != "" {
		u += "&" + p.PublisherQuery
	}
	nctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	navStart := time.Now()
	if err := chromedp.Do(nctx, chromedp.Navigate(u)); err != nil {
		b.close()
		return nil, fmt.Errorf("%w: broadcast page: %w", ErrPublisher, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline) && i < 400; i++ {
		st, err := chromedp.Run(nctx, chromedp.Evaluate[[]string](`[window.relaycast ? window.relaycast.state : "none", window.relaycast ? window.relaycast.error : ""]`))
		if err == nil && len(st) == 2 {
			if st[0] == "live" {
				bp.ramp = startRampSampler(ctx, b.ctx, p.PublisherSource, navStart, time.Now())
				return bp, nil
			}
			if st[0] == "error" {
				b.close()
				return nil, fmt.Errorf("%w: broadcast page: %s", ErrPublisher, st[1])
			}
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			b.close()
			return nil, ctx.Err()
		}
	}
	b.close()
	return nil, fmt.Errorf("%w: broadcast page did not go live within 20s", ErrPublisher)
}

// bytesSent is the publisher's video bytes sent so far (all layers), as of the ramp sampler's
// last reading.
func (bp *browserPublisher) bytesSent(context.Context) float64 { return bp.ramp.lastBytes() }

func (bp *browserPublisher) close() {
	bp.ramp.stop()
	bp.b.close()
}
