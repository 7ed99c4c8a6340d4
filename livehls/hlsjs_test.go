package livehls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hlsjsPath is the hls.js build the watch page bundles (web/ui's dependency).
func hlsjsPath(t *testing.T) string {
	p, _ := filepath.Abs("../web/ui/node_modules/hls.js/dist/hls.min.js")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("hls.js not found at %s (npm ci in web/ui)", p)
		}
		t.Skipf("hls.js not found at %s (npm ci in web/ui)", p)
	}
	return p
}

const hlsjsPage = `<!doctype html><video id=v muted autoplay playsinline></video>
<script src="/hls.js"></script><script>
window.errs = [];
const hls = new Hls({lowLatencyMode: true, backBufferLength: 10});
window.hls = hls;
hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.errs.push(d.type + ':' + d.details); });
hls.loadSource('/live/r/index.m3u8');
hls.attachMedia(document.getElementById('v'));
</script>`

// hls.js (low-latency mode) in Chromium plays the live stream: it advances, uses blocking
// reloads, and plays near the live edge (distance from PROGRAM-DATE-TIME logged).
func TestHlsjsPlaysLowLatency(t *testing.T) {
	js := hlsjsPath(t)
	chromium := os.Getenv("RELAYCAST_TEST_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.audioLag = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(frameDur)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				f.step()
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("/live/", srv)
	mux.HandleFunc("/hls.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, js) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(hlsjsPage))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck}
	for _, fl := range []string{"headless=new", "no-sandbox", "disable-gpu", "disable-quic",
		"disable-background-networking", "disable-component-update", "disable-sync", "disable-dev-shm-usage"} {
		opts = append(opts, chromedp.Flag(fl, true))
	}
	opts = append(opts, chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	tctx, cancelT := context.WithTimeout(bctx, 40*time.Second)
	defer cancelT()
	if _, err := chromedp.Run(tctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	type playState struct {
		T       float64  `json:"t"`
		Errs    []string `json:"errs"`
		Behind  float64  `json:"behind"`
		Latency float64  `json:"latency"`
		Target  float64  `json:"target"`
		Rate    float64  `json:"rate"`
	}
	var state playState
	deadline := time.Now().Add(30 * time.Second)
	var t0 float64
	for {
		var err error
		state, err = chromedp.Run(tctx, chromedp.Evaluate[playState](`({t: document.getElementById('v').currentTime, errs: window.errs,
			behind: hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : -1, latency: hls.latency || 0,
			target: hls.targetLatency || 0, rate: document.getElementById('v').playbackRate})`))
		if err != nil {
			t.Fatal(err)
		}
		if len(state.Errs) > 0 {
			t.Fatalf("hls.js fatal errors: %v", state.Errs)
		}
		if t0 == 0 && state.T > 0 {
			t0 = state.T
		}
		if t0 > 0 && state.T > t0+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not playing: currentTime %v", state.T)
		}
		time.Sleep(250 * time.Millisecond)
	}
	stats := srv.Stats()
	t.Logf("hls.js plays: currentTime %.2f, %.2f s behind PROGRAM-DATE-TIME, hls.latency %.2f s (target %.2f, rate %.2f); %d blocking playlist requests, %d media",
		state.T, state.Behind, state.Latency, state.Target, state.Rate, stats.BlockingPlaylists, stats.Media)
	if stats.BlockingPlaylists == 0 {
		t.Fatal("hls.js made no blocking playlist request")
	}
	// Low-latency mode plays around PART-HOLD-BACK behind the edge, not three segments (6 s).
	if state.Behind <= 0 || state.Behind > 5 {
		t.Fatalf("%.2f s behind the live edge", state.Behind)
	}
}
