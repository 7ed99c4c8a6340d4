package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// chromium returns the browser to test with. Outside CI a missing browser or UI build skips;
// in CI (CI=true) it fails, so a broken setup can never pass silently.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("RELAYCAST_TEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s (scripts/test.sh installs it)", path)
		}
		t.Skipf("chromium not found at %s", path)
	}
	return path
}

// browser starts one headless Chromium with fake camera and microphone, loopback-only WebRTC.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
	}
	for _, f := range []string{
		"headless=new", "no-sandbox", "disable-gpu", "disable-quic", "disable-background-networking",
		"disable-component-update", "disable-sync", "allow-loopback-in-peer-connection",
		"use-fake-ui-for-media-stream", "disable-dev-shm-usage",
	} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	opts = append(opts,
		chromedp.Flag("use-fake-device-for-media-stream", "fps=30"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab opens a new tab in the browser of ctx.
func tab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	return tctx
}

func startServer(t *testing.T) *server.Server {
	t.Helper()
	srv := testserver.Start(t, nil)
	// The pages must have been built (make web); the test exercises them, not a placeholder.
	resp, err := httpGet(srv.URL() + "/watch/x")
	if err != nil || resp != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("watch page not served (status %d, %v): is the web UI built?", resp, err)
		}
		t.Skipf("web UI not built (status %d): run make web", resp)
	}
	return srv
}

// waitJS polls a boolean JavaScript expression until it is true or d passes.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, expr, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({state: window.relaycast && window.relaycast.state, error: window.relaycast && window.relaycast.error, text: document.body.innerText.slice(0, 300)})`))
			t.Fatalf("timed out after %s waiting for %s (%s): last err %v; page: %s", d, what, expr, err, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBroadcastPageToWatchPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	tok, err := srv.Signer().Issue("e2e", []auth.Grant{auth.GrantPublish}, time.Hour, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)

	pubTab := tab(t, ctx)
	if err := chromedp.Do(pubTab, chromedp.Navigate(fmt.Sprintf("%s/broadcast/e2e?token=%s&autostart=1", srv.URL(), tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live")
	if _, ok := srv.SFU().Room("e2e"); !ok {
		waitJSRoom(t, srv)
	}

	watchTab := tab(t, ctx)
	if err := chromedp.Do(watchTab, chromedp.Navigate(srv.URL()+"/watch/e2e")); err != nil {
		t.Fatal(err)
	}
	// Time from the start of the page load (performance.now() origin) to the first frame the
	// video element presents, measured by the page's own clock.
	firstFrame, err := chromedp.Run(watchTab, chromedp.Evaluate[float64](firstFrameMs, awaitPromise))
	if err != nil {
		t.Fatalf("no first frame: %v", err)
	}
	waitJS(t, watchTab, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 60`, "60 decoded frames")
	// The video element really shows a picture.
	w, err := chromedp.Run(watchTab, chromedp.Evaluate[int](`document.querySelector("video").videoWidth`))
	if err != nil || w == 0 {
		t.Fatalf("video width = %d, %v", w, err)
	}
	waitJS(t, pubTab, 10*time.Second, `window.relaycast.viewers === 1`, "the broadcaster to see 1 viewer")
	t.Logf("watch page load → first presented frame: %.0f ms; video %d px wide", firstFrame, w)
	// The watch page is the only viewer: what the batching socket sent as UDP GSO messages
	// (datagrams > messages) went to Chromium.
	st := srv.SFU().Stats()
	t.Logf("SFU: %d viewer(s) on the direct send path; UDP GSO %v: %d datagrams in %d messages", st.DirectSend, st.GSO, st.Datagrams, st.SendMessages)

	// The publisher's bandwidth estimate and send rate, from its own getStats (TWCC feedback from
	// the SFU is what lets the browser's estimate grow).
	for i := 0; i < 3; i++ {
		diag, err := chromedp.Run(pubTab, chromedp.Evaluate[string](publisherStats, awaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("publisher: %s", diag)
	}

	// Stop: the watch page is told and waits for the next broadcast.
	if err := chromedp.Do(pubTab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, watchTab, 20*time.Second, `window.relaycast.state === "ended" || window.relaycast.state === "waiting"`, "the watch page to see the end")
}

func awaitPromise(p *runtime.EvaluateParams) {
	yes := true
	p.AwaitPromise = &yes
}

// publisherStats measures the broadcast page's outbound video over 2 s: send rate, resolution,
// the browser's bandwidth estimate (availableOutgoingBitrate) and what limits its quality.
const publisherStats = `(async () => {
  const snap = async () => {
    const o = {};
    (await window.relaycast.pc.getStats()).forEach(r => {
      if (r.type === "outbound-rtp" && r.kind === "video") { o.bytes = (o.bytes || 0) + r.bytesSent; o.width = r.frameWidth; o.limit = r.qualityLimitationReason; }
      if (r.type === "candidate-pair" && r.nominated && r.availableOutgoingBitrate) o.bwe = r.availableOutgoingBitrate;
    });
    return o;
  };
  const a = await snap();
  await new Promise(r => setTimeout(r, 2000));
  const b = await snap();
  return "send " + Math.round((b.bytes - a.bytes) * 8 / 2000) + " kbps, " + b.width + " px wide, estimate " +
    Math.round((b.bwe || 0) / 1000) + " kbps, quality limited by " + b.limit;
})()`

// firstFrameMs resolves with performance.now() at the first video frame presented.
const firstFrameMs = `new Promise((resolve, reject) => {
  const deadline = performance.now() + 20000;
  const wait = () => {
    const v = document.querySelector("video");
    if (v && v.requestVideoFrameCallback) { v.requestVideoFrameCallback(now => resolve(now)); return; }
    if (v && v.videoWidth > 0) { resolve(performance.now()); return; }
    if (performance.now() > deadline) { reject(new Error("no frame in 20 s")); return; }
    setTimeout(wait, 10);
  };
  wait();
})`

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func waitJSRoom(t *testing.T, srv *server.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := srv.SFU().Room("e2e"); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("room e2e never went live on the server")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
