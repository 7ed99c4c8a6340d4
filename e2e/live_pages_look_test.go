package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestLivePagesScreenshots: the broadcast and watch pages with the shared design tokens (light
// and dark), live with the fake camera, saved as screenshots next to the archive pages'.
func TestLivePagesScreenshots(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	ctx := browser(t)
	pub := tab(t, ctx)
	navigate(t, pub, srv.URL()+"/broadcast/shop?autostart=1&token="+testserver.Token(t, srv, "shop", auth.GrantPublish))
	waitJS(t, pub, 20*time.Second, `window.relaycast.state === "live"`, "the broadcast page to go live")
	watch := tab(t, ctx)
	navigate(t, watch, srv.URL()+"/watch/shop")
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 30`, "the watch page to play")
	waitJS(t, pub, 10*time.Second, `window.relaycast.viewers === 1`, "the broadcaster to see the viewer")
	screenshots(t, pub, "broadcast")
	screenshots(t, watch, "watch")
	darkScreenshot(t, watch, "watch")
}

// TestLivePagesSayWhatHappens (issue 12, defect 6): both live pages load through a proxy that
// can go down like the server. The broadcast page shows how long it has been live and copies the
// viewer link; while the server is unreachable it says it is reconnecting (never "You are live")
// and the watch page says the connection was lost without socket codes ("code 1006"); both come
// back by themselves. When the seller stops, the watch page stops spinning, says the show has
// ended in words (no "Reason: publisher left") and links to the recording once it is ready.
func TestLivePagesSayWhatHappens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	px := newTCPProxy(t, strings.TrimPrefix(srv.URL(), "http://"))
	ctx := browser(t)
	pub := tab(t, ctx)
	navigate(t, pub, px.URL()+"/broadcast/shop?autostart=1&token="+testserver.Token(t, srv, "shop", auth.GrantPublish))
	waitJS(t, pub, 20*time.Second, `window.relaycast.state === "live"`, "the broadcast page to go live")
	watch := tab(t, ctx)
	navigate(t, watch, px.URL()+"/watch/shop")
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 10`, "the watch page to play")

	// Elapsed time: shown, and it counts.
	waitJS(t, pub, 5*time.Second, `!document.getElementById("elapsed-badge").hidden && /^0:0[0-9]$/.test(document.getElementById("elapsed-badge").textContent)`, "the elapsed time on the stage")
	first := evalJS[string](t, pub, `document.getElementById("elapsed-badge").textContent`)
	waitJS(t, pub, 5*time.Second, `document.getElementById("elapsed-badge").textContent !== `+jsString(first)+` && document.getElementById("st-elapsed").textContent.includes(":")`, "the elapsed time to count")
	// Copy viewer link.
	if got := evalJS[string](t, pub, `document.getElementById("viewer-link").value`); got != px.URL()+"/watch/shop" {
		t.Errorf("viewer link %q", got)
	}
	realClick(t, pub, "#copy-link")
	waitJS(t, pub, 5*time.Second, `document.getElementById("copy-status").textContent !== ""`, "feedback from Copy viewer link")
	if msg := evalJS[string](t, pub, `document.getElementById("copy-status").textContent`); msg != "Viewer link copied." {
		t.Errorf("copy says %q", msg)
	} else if clip, err := chromedp.Run(pub, chromedp.Evaluate[string](`navigator.clipboard.readText()`, awaitPromise)); err == nil && clip != px.URL()+"/watch/shop" {
		t.Errorf("clipboard holds %q", clip)
	}
	screenshots(t, pub, "broadcast")

	// Outage.
	px.Down()
	waitJS(t, pub, 15*time.Second, `window.relaycast.state === "reconnecting" && document.body.innerText.includes("Reconnecting")`, "the broadcast page to say it is reconnecting")
	waitJS(t, watch, 15*time.Second, `document.body.innerText.includes("Lost the connection to the server")`, "the watch page to say the connection was lost")
	time.Sleep(1500 * time.Millisecond) // a retry or two against the dead server
	pubText := evalJS[string](t, pub, `document.body.innerText`)
	if strings.Contains(pubText, "You are live") {
		t.Errorf("broadcast page during the outage still says %q", "You are live")
	}
	for name, c := range map[string]context.Context{"broadcast": pub, "watch": watch} {
		if txt := evalJS[string](t, c, `document.body.innerText`); strings.Contains(txt, "1006") || strings.Contains(strings.ToLower(txt), "code 10") {
			t.Errorf("%s page shows a socket code: %q", name, txt)
		}
	}
	screenshots(t, pub, "broadcast-reconnecting")
	px.Up()
	waitJS(t, pub, 40*time.Second, `window.relaycast.state === "live"`, "the broadcast page to be live again")
	waitJS(t, watch, 40*time.Second, `window.relaycast.state === "playing"`, "the watch page to play again")

	// The seller stops: the show has ended, then its recording is linked.
	realClick(t, pub, "#stop")
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "ended"`, "the watch page to see the end")
	wt := evalJS[string](t, watch, `document.getElementById("overlay").innerText`)
	if !strings.Contains(wt, "The show has ended") || strings.Contains(wt, "Reason:") || strings.Contains(wt, "publisher") {
		t.Errorf("ended overlay says %q", wt)
	}
	if evalJS[bool](t, watch, `!document.getElementById("spinner").hidden`) {
		t.Error("the watch page still spins after the show ended")
	}
	waitJS(t, watch, 20*time.Second, `window.relaycast.recordingLink !== "" || document.querySelector(".overlay-note").textContent.includes("being prepared")`, "the watch page to say the recording is being prepared")
	screenshots(t, watch, "watch-ended")
	// The link, once the recording is ready: a short show from a file publisher (WHIP), whose
	// recording transcodes quickly.
	navigate(t, watch, px.URL()+"/watch/clip")
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "waiting"`, "the watch page to wait for the clip room")
	clipPub, stopClip := publish(t, srv, "clip", 4*time.Second)
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "playing"`, "the watch page to play the clip")
	select {
	case <-clipPub.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("publisher did not finish")
	}
	stopClip()
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "ended"`, "the watch page to see the clip end")
	linked := `!document.getElementById("overlay-link").hidden && document.getElementById("overlay-link").getAttribute("href").startsWith("/v/")`
	for deadline := time.Now().Add(180 * time.Second); !evalJS[bool](t, watch, linked); time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, r := range recordings(t, srv) {
				t.Logf("recording %s of %s: %s %.0f%% %q", r.ID, r.Room, r.Status, r.Progress, r.Error)
			}
			t.Fatal("no link to the recording after 180 s")
		}
	}
	href := evalJS[string](t, watch, `document.getElementById("overlay-link").getAttribute("href")`)
	ready := false
	for _, r := range recordings(t, srv) {
		if "/v/"+r.ID == href && r.Status == catalog.StatusReady && r.Room == "clip" {
			ready = true
		}
	}
	if !ready {
		t.Errorf("the watch page links %s, not the ready recording of the clip room", href)
	}
	screenshots(t, watch, "watch-ended-recording")
}
