package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/transcode"
)

// ownRedis starts a redis-server of this test on a free port (no persistence) and stops it at
// the end. Not the shared test Redis: its pub/sub channels are not per database, so the events of
// this server would reach the servers of other packages' tests running at the same time.
func ownRedis(t *testing.T) string {
	t.Helper()
	addr, _ := redistest.Own(t)
	return "redis://" + addr + "/0"
}

// TestAdminPage: a recording whose raw chunk is gone from storage fails for real in a separate
// worker. On /admin, signed in with an admin token (keyboard only), the
// failed job shows with ffmpeg's error; "Run again" runs it on the same input and it fails again;
// Retry restarts the recording from the recorder's intact copy on disk and it becomes ready. "End broadcast" (confirmed in a dialog) ends a live room on
// the server. The admin cookie opens asynqmon at /admin/queues.
func TestAdminPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	rurl := ownRedis(t)
	var cfg config.Config
	// No workers in the server: jobs wait in Redis until the test starts one.
	srv := testserver.Start(t, func(c *config.Config) {
		c.RedisURL, c.Workers = rurl, 0
		cfg = *c
	})
	if code, err := httpGet(srv.URL() + "/admin"); err != nil || code != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("admin page not served (%d, %v): is the web UI built?", code, err)
		}
		t.Skipf("web UI not built (%d)", code)
	}
	admin := adminToken(t, srv)

	recordClip(t, srv, "shop", 4*time.Second)
	rec := waitRecording(t, srv, "shop", catalog.StatusProcessing, 20*time.Second)
	waitJobs(t, srv, admin, "pending", 2) // the chunk and the finalize job
	raw := filepath.Join(cfg.VODDir(), transcode.RawKey(rec.ID, 0, "video.ivf"))
	if err := os.Remove(raw); err != nil { // a corrupt chunk no longer fails a recording; a lost one does
		t.Fatal(err)
	}
	// The player of a recording nothing has processed yet says so, and waits.
	ctx := browser(t)
	vod := tab(t, ctx)
	navigate(t, vod, srv.URL()+"/v/"+rec.ID)
	waitJS(t, vod, 10*time.Second, `window.relaycast.state === "waiting" && document.getElementById("overlay-title").textContent === "Processing…"`, "the player to wait for processing")

	wcfg := cfg
	wcfg.Workers = 1
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- server.RunWorker(wctx, wcfg, nil) }()
	t.Cleanup(func() { wcancel(); <-wdone })
	failed := waitRecording(t, srv, "shop", catalog.StatusFailed, 60*time.Second)
	t.Logf("recording failed for real: %s", failed.Error)

	// A live broadcast to end from the page.
	live, stopLive := publish(t, srv, "market", 60*time.Second)
	defer stopLive()
	waitRecording(t, srv, "market", catalog.StatusRecording, 20*time.Second)

	waitJS(t, vod, 10*time.Second, `window.relaycast.state === "failed" && document.body.innerText.includes("Processing failed")`, "the player to show the failure")
	pg := tab(t, ctx)
	navigate(t, pg, srv.URL()+"/admin")
	if f := evalJS[string](t, pg, `document.activeElement.id`); f != "token" {
		t.Errorf("focus starts on %q, want the token field", f)
	}
	screenshots(t, pg, "admin-signin")
	// A token that is not admin: refused with a clear message.
	setValue(t, pg, "#token", testserver.Token(t, srv, "shop", "publish"))
	press(t, pg, kb.Enter)
	waitJS(t, pg, 10*time.Second, `!document.getElementById("signin-error").hidden && document.getElementById("signin-error").textContent.includes("not an admin token")`, "the refusal of a seller token")
	setValue(t, pg, "#token", admin)
	press(t, pg, kb.Enter)
	waitJS(t, pg, 10*time.Second, `window.relaycast.signedIn && document.activeElement.id === "rooms-title"`, "sign-in")
	if strings.Contains(evalJS[string](t, pg, `location.href`), "ey") {
		t.Error("token in the URL")
	}
	waitJS(t, pg, 10*time.Second, `!!document.querySelector('#rooms tr[data-room="market"]') && !!document.querySelector('#recs tr[data-status="failed"] button') && document.querySelectorAll('#jobs tr').length === 1`,
		"the live room, the failed recording with Retry, the failed job")
	jobText := evalJS[string](t, pg, `document.querySelector('#jobs tr').textContent`)
	if !strings.Contains(jobText, "source missing") || !strings.Contains(jobText, rec.ID) {
		t.Errorf("job row %q lacks the error or the recording", jobText)
	}
	// What the page shows (the operator log collapsed): no queue markers, no tool output.
	if shown := evalJS[string](t, pg, `document.querySelector('#jobs tr').innerText`); strings.Contains(shown, "skip retry") || strings.Contains(shown, "Invalid data") {
		t.Errorf("job row shows the queue's or the tool's words: %q", shown)
	}
	screenshots(t, pg, "admin")
	darkScreenshot(t, pg, "admin")
	tabThrough(t, pg, "admin")

	// "Run again" runs the same job on the same corrupt input: the recording is processed again
	// and fails again, the job is back in the failed list.
	// The rerun fails within milliseconds (the chunk is refused before ffmpeg), faster than the
	// page may show "processing": the evidence that it ran again is the job's later failure time.
	firstFail := lastFailedAt(t, srv, admin)
	focus(t, pg, `#jobs tr button`)
	press(t, pg, kb.Enter)
	for deadline := time.Now().Add(60 * time.Second); !lastFailedAt(t, srv, admin).After(firstFail); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run again: the job did not run again within 60 s")
		}
	}
	waitJS(t, pg, 60*time.Second, `document.querySelector('#recs tr[data-id="`+rec.ID+`"]').dataset.status === "failed" && document.querySelectorAll('#jobs tr').length === 1`, "the job to fail again on the same input")

	// Retry, keyboard only: focus the button, Enter.
	focus(t, pg, `#recs tr[data-id="`+rec.ID+`"] button.btn-primary`)
	press(t, pg, kb.Enter)
	waitJS(t, pg, 10*time.Second, `(() => { const r = document.querySelector('#recs tr[data-id="`+rec.ID+`"]'); return r && (r.dataset.status === "processing" || r.dataset.status === "ready"); })()`, "the retried recording to be processing")
	waitJS(t, pg, 120*time.Second, `document.querySelector('#recs tr[data-id="`+rec.ID+`"]').dataset.status === "ready"`, "the retried recording to become ready")
	waitJS(t, pg, 10*time.Second, `document.querySelectorAll('#jobs tr').length === 0 && !document.getElementById("jobs-empty").hidden`, "the failed job to be gone")
	waitRecording(t, srv, "shop", catalog.StatusReady, 5*time.Second)
	// The open player got the news over /api/events and loads the final playlist.
	waitJS(t, vod, 20*time.Second, `window.relaycast.src.endsWith("master.m3u8") && window.relaycast.state === "ready"`, "the waiting player to load the ready recording")

	// End the live broadcast: a confirm dialog, Cancel first (nothing happens), then confirm.
	endSel := `#rooms tr[data-room="market"] button.btn-danger`
	focus(t, pg, endSel)
	press(t, pg, kb.Enter)
	waitJS(t, pg, 5*time.Second, `document.getElementById("confirm").open && document.activeElement.id === "confirm-cancel"`, "the confirm dialog with focus on Cancel")
	screenshots(t, pg, "admin-confirm")
	press(t, pg, kb.Escape)
	waitJS(t, pg, 5*time.Second, `!document.getElementById("confirm").open`, "Esc to cancel")
	if _, ok := srv.SFU().Room("market"); !ok {
		t.Fatal("cancel ended the room")
	}
	focus(t, pg, endSel)
	press(t, pg, kb.Enter)
	waitJS(t, pg, 5*time.Second, `document.getElementById("confirm").open`, "the confirm dialog")
	focus(t, pg, "#confirm-ok")
	press(t, pg, kb.Enter)
	waitJS(t, pg, 15*time.Second, `!document.querySelector('#rooms tr[data-room="market"]')`, "the room to leave the list")
	if _, ok := srv.SFU().Room("market"); ok {
		t.Error("room market still live on the server")
	}
	select {
	case <-live.Done():
	case <-time.After(15 * time.Second):
		if st := live.PC().ConnectionState().String(); st == "connected" {
			t.Errorf("publisher still %s after End broadcast", st)
		}
	}

	// Delete the ready recording: confirm, the row goes, the API forgets it.
	delSel := `#recs tr[data-id="` + rec.ID + `"] button[aria-label^="Delete"]`
	focus(t, pg, delSel)
	press(t, pg, kb.Enter)
	waitJS(t, pg, 5*time.Second, `document.getElementById("confirm").open && document.getElementById("confirm-title").textContent.startsWith("Delete")`, "the delete confirmation")
	focus(t, pg, "#confirm-ok")
	press(t, pg, kb.Enter)
	waitJS(t, pg, 15*time.Second, `!document.querySelector('#recs tr[data-id="`+rec.ID+`"]')`, "the deleted recording's row to go")
	if code, err := httpGet(srv.URL() + "/api/recordings/" + rec.ID); err != nil || code != http.StatusNotFound {
		t.Errorf("deleted recording: %d %v", code, err)
	}

	// asynqmon with the cookie the page got.
	navigateRaw(t, pg, srv.URL()+"/admin/queues/")
	waitJS(t, pg, 15*time.Second, `document.title.toLowerCase().includes("asynq") || document.body.innerText.includes("Queues")`, "asynqmon to load")
	// Signed out, asynqmon refuses.
	navigate(t, pg, srv.URL()+"/admin")
	waitJS(t, pg, 10*time.Second, `window.relaycast.signedIn`, "the session to be restored from sessionStorage")
	if err := chromedp.Do(pg, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pg, 5*time.Second, `!window.relaycast.signedIn && !sessionStorage.getItem("relaycast.admin-token")`, "sign-out")
	resp, err := chromedp.Run(pg, chromedp.Evaluate[int](`fetch("/admin/queues/api/queues").then(r => r.status)`, awaitPromise))
	if err != nil || resp != http.StatusUnauthorized {
		t.Errorf("asynqmon after sign-out: %d %v", resp, err)
	}
}

// waitJobs polls /api/admin/jobs until it lists at least n jobs in state.
func waitJobs(t *testing.T, srv *server.Server, token, state string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/admin/jobs?state="+state, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var body struct {
				Jobs []struct{} `json:"jobs"`
			}
			_ = jsonDecode(res, &body)
			if len(body.Jobs) >= n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fewer than %d %s jobs after 30 s", n, state)
}

// lastFailedAt is the latest failure time among the archived (failed) jobs; zero when none.
func lastFailedAt(t *testing.T, srv *server.Server, token string) time.Time {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/admin/jobs?state=archived", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Jobs []struct {
			LastFailedAt time.Time `json:"last_failed_at"`
		} `json:"jobs"`
	}
	_ = jsonDecode(res, &body)
	var last time.Time
	for _, j := range body.Jobs {
		if j.LastFailedAt.After(last) {
			last = j.LastFailedAt
		}
	}
	return last
}

// setValue sets an input's value as a paste would (long tokens; typing them key by key is slow).
func setValue(t *testing.T, ctx context.Context, sel, v string) {
	t.Helper()
	focus(t, ctx, sel)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.querySelector(`+strconv.Quote(sel)+`).value = `+strconv.Quote(v))); err != nil {
		t.Fatal(err)
	}
}

// navigateRaw opens a page that has no relaycast hook.
func navigateRaw(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
}
