package e2e_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/transcode"
)

// TestPlayerKeepsNewerState: the player looks up the recording again when its event stream
// opens. When that answer ("processing", read just before the worker failed the recording)
// arrives after the "failed" event, the page keeps "failed": an answer older than the last event
// applied never undoes it. (TestAdminPage failed in CI this way: the player stayed "waiting".)
func TestPlayerKeepsNewerState(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	rurl := ownRedis(t)
	var cfg config.Config
	srv := testserver.Start(t, func(c *config.Config) {
		c.RedisURL, c.Workers = rurl, 0
		cfg = *c
	})
	recordClip(t, srv, "shop", 3*time.Second)
	rec := waitRecording(t, srv, "shop", catalog.StatusProcessing, 20*time.Second)
	if err := os.Remove(filepath.Join(cfg.VODDir(), transcode.RawKey(rec.ID, 0, "video.ivf"))); err != nil {
		t.Fatal(err)
	}

	// The second lookup of the recording (the one made when the event stream opens) is read
	// from the server at once and answered only when the test releases it.
	held, release := make(chan struct{}), make(chan struct{})
	var gets atomic.Int32
	proxy := newHTTPProxy(t, srv.URL(), nil, nil)
	proxy.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.URL.Path != "/api/recordings/"+rec.ID || gets.Add(1) != 2 {
			return false
		}
		res, err := http.Get(srv.URL() + r.URL.Path)
		if err != nil {
			t.Errorf("lookup: %v", err)
			return false
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if !strings.Contains(string(body), `"status":"processing"`) {
			t.Errorf("held answer is not the processing state: %s", body)
		}
		close(held)
		select {
		case <-release:
		case <-r.Context().Done():
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
		return true
	}

	ctx := browser(t)
	vod := tab(t, ctx)
	navigate(t, vod, proxy.URL+"/v/"+rec.ID)
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the player did not look the recording up again when its event stream opened")
	}
	waitJS(t, vod, 10*time.Second, `window.relaycast.state === "waiting"`, "the player to wait for processing")

	wcfg := cfg
	wcfg.Workers = 1
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- server.RunWorker(wctx, wcfg, nil) }()
	t.Cleanup(func() { wcancel(); <-wdone })
	waitJS(t, vod, 60*time.Second, `window.relaycast.state === "failed"`, "the failed event to reach the player")

	close(release)
	waitJS(t, vod, 10*time.Second, `performance.getEntriesByType("resource").filter(e => e.name.endsWith("/api/recordings/`+rec.ID+`")).length >= 2`, "the held answer to arrive")
	// The answer's handler runs after its body is read: give it a turn of the event loop.
	state, err := chromedp.Run(vod, chromedp.Evaluate[string](`new Promise(r => setTimeout(() => r(window.relaycast.state), 200))`, awaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if state != "failed" {
		t.Errorf("after the older answer arrived the player shows %q, want failed", state)
	}
}
