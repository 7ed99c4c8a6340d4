package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestLibraryAndPlayer: a real broadcast (WHIP file publisher) shows up on the open library page
// as live, then processing with progress from /api/events, then ready with poster and duration;
// search filters by title; the player plays it with hls.js (time advances, frames decode),
// switches quality, changes speed, seeks, resumes where it stopped; unknown ids say so; every
// control is reachable with Tab and shows focus.
func TestLibraryAndPlayer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	ctx := browser(t)
	lib := tab(t, ctx)
	navigate(t, lib, srv.URL()+"/")
	waitJS(t, lib, 10*time.Second, `window.relaycast.eventsOpen && !window.relaycast.loading`, "the library to load and subscribe")
	if !strings.Contains(evalJS[string](t, lib, `document.getElementById("archive-empty").textContent`), "No recordings") {
		t.Error("empty archive not explained")
	}

	// Broadcast 8 s: the room appears under "Live now" and the recording as a card.
	pub, stop := publish(t, srv, "shop", 8*time.Second)
	waitJS(t, lib, 15*time.Second, `!!document.querySelector('#rooms a[data-room="shop"]')`, "the live room in Live now")
	waitJS(t, lib, 15*time.Second, `!!document.querySelector('.rec-card[data-status="recording"]')`, "a live recording card")
	screenshots(t, lib, "library-live")
	select {
	case <-pub.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("publisher did not finish")
	}
	stop()
	// Processing shows progress (a number from the progress events), then ready.
	waitJS(t, lib, 30*time.Second, `(() => { const c = document.querySelector('.rec-card'); return c && (c.dataset.status === "ready" || (c.dataset.status === "processing" && !c.querySelector('.stack').hidden)); })()`, "processing progress on the card")
	sawPct := evalJS[bool](t, lib, `(() => { const c = document.querySelector('.rec-card'); return c.dataset.status === "ready" || /\d+%|Processing/.test(c.textContent); })()`)
	if !sawPct {
		t.Error("processing card shows no progress")
	}
	waitJS(t, lib, 120*time.Second, `(() => { const c = document.querySelector('.rec-card'); return c && c.dataset.status === "ready" && !!c.querySelector('.rec-poster img') && !!c.querySelector('.rec-duration'); })()`, "the card to become ready with poster and duration")
	waitJS(t, lib, 20*time.Second, `!document.querySelector('#rooms a[data-room="shop"]')`, "the room to leave Live now")
	rec := waitRecording(t, srv, "shop", catalog.StatusReady, 5*time.Second)
	if pct := evalJS[float64](t, lib, `window.relaycast.progressSeen[`+strconv.Quote(rec.ID)+`] ?? -1`); pct <= 0 {
		t.Errorf("no processing progress %% was shown from /api/events (max %v)", pct)
	} else {
		t.Logf("the card showed up to %.0f%% processing progress before ready", pct)
	}
	if got := evalJS[string](t, lib, `document.querySelector('.rec-card .rec-title a').getAttribute('href')`); got != "/v/"+rec.ID {
		t.Errorf("card links to %q", got)
	}
	if posterOK := evalJS[bool](t, lib, `(() => { const i = document.querySelector('.rec-poster img'); return i.complete && i.naturalWidth > 0; })()`); !posterOK {
		waitJS(t, lib, 10*time.Second, `(() => { const i = document.querySelector('.rec-poster img'); return i.complete && i.naturalWidth > 0; })()`, "the poster image to load")
	}
	// A second recording so the grid and search have something to tell apart.
	recordClip(t, srv, "studio", 4*time.Second)
	waitJS(t, lib, 120*time.Second, `document.querySelectorAll('.rec-card[data-status="ready"]').length === 2`, "two ready cards")
	screenshots(t, lib, "library")
	darkScreenshot(t, lib, "library")
	tabThrough(t, lib, "library")

	// Pagination: one per page, "Load more" (keyboard) fetches the next with the cursor and puts
	// focus on the first new card.
	pg := tab(t, ctx)
	navigate(t, pg, srv.URL()+"/?limit=1")
	waitJS(t, pg, 10*time.Second, `window.relaycast.ids.length === 1 && !document.getElementById("load-more").hidden`, "one card and Load more")
	focus(t, pg, "#load-more")
	press(t, pg, kb.Enter)
	waitJS(t, pg, 10*time.Second, `window.relaycast.ids.length === 2 && document.getElementById("load-more").hidden && document.activeElement.closest(".rec-card") === document.querySelectorAll(".rec-card")[1]`, "the second page, focus on its card")
	if ids := evalJS[[]string](t, pg, `window.relaycast.ids`); ids[1] != rec.ID {
		t.Errorf("pages out of order: %v (want %s second, newest first)", ids, rec.ID)
	}

	// Search by title, keyboard only: type into the search box, Enter.
	focus(t, lib, "#q")
	if err := chromedp.Do(lib, chromedp.KeyEvent("studio"), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, lib, 10*time.Second, `window.relaycast.ids.length === 1 && document.querySelector('.rec-card').textContent.includes("studio")`, "search to keep only the studio recording")
	if q := evalJS[string](t, lib, `location.search`); q != "?q=studio" {
		t.Errorf("search not in the URL: %q", q)
	}
	focus(t, lib, "#q")
	if err := chromedp.Do(lib, chromedp.KeyEvent("zzz-nothing"), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, lib, 10*time.Second, `window.relaycast.ids.length === 0 && !document.getElementById("archive-empty").hidden`, "an empty search result with a message")
	if err := chromedp.Do(lib, chromedp.Click(chromedp.CSS("#search-clear"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, lib, 10*time.Second, `window.relaycast.ids.length === 2`, "clearing the search")

	// ---- the player ----
	pl := tab(t, ctx)
	navigate(t, pl, srv.URL()+"/v/"+rec.ID)
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "ready" && window.relaycast.levels().length >= 2`, "the player to load the master playlist with 2+ renditions")
	if title := evalJS[string](t, pl, `document.title`); !strings.Contains(title, "shop") {
		t.Errorf("page title %q", title)
	}
	// Play with the keyboard shortcut.
	press(t, pl, "k")
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.video.currentTime > 1 && window.relaycast.video.getVideoPlaybackQuality().totalVideoFrames > 20`, "playback: time advances, frames decode")
	if w := evalJS[int](t, pl, `window.relaycast.video.videoWidth`); w == 0 {
		t.Error("video has no picture")
	}
	// Quality: open the menu with the keyboard, pick the lowest rendition.
	levels := evalJS[[]map[string]float64](t, pl, `window.relaycast.levels()`)
	lowest, lowestH := 0, levels[0]["height"]
	for i, l := range levels {
		if l["height"] < lowestH {
			lowest, lowestH = i, l["height"]
		}
	}
	focus(t, pl, "#quality-btn")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 5*time.Second, `!document.getElementById("quality-menu").hidden && document.activeElement.getAttribute("role") === "menuitemradio"`, "the quality menu to open with focus inside")
	press(t, pl, kb.End) // the last item is the lowest rendition (sorted high → low)
	press(t, pl, kb.Enter)
	waitJS(t, pl, 20*time.Second, fmt.Sprintf(`window.relaycast.currentLevel === %d && !window.relaycast.autoLevel && window.relaycast.video.videoHeight === %d`, lowest, int(lowestH)),
		fmt.Sprintf("a switch to level %d (%dp) that the video shows", lowest, int(lowestH)))
	if btn := evalJS[string](t, pl, `document.getElementById("quality-btn").textContent`); !strings.Contains(btn, fmt.Sprintf("%dp", int(lowestH))) {
		t.Errorf("quality button says %q", btn)
	}
	if f := evalJS[string](t, pl, `document.activeElement.id`); f != "quality-btn" {
		t.Errorf("focus after choosing went to %q, want the menu button", f)
	}
	// Speed: ">" speeds up one step; the menu picks 2×.
	press(t, pl, ">")
	waitJS(t, pl, 5*time.Second, `window.relaycast.video.playbackRate === 1.25`, "> to speed up to 1.25×")
	if err := chromedp.Do(pl, chromedp.Click(chromedp.CSS("#speed-btn")), chromedp.Click(chromedp.CSS(`#speed-menu [data-value="2"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 5*time.Second, `window.relaycast.video.playbackRate === 2 && document.getElementById("speed-btn").textContent === "Speed 2×"`, "2× from the speed menu")
	press(t, pl, "<")
	waitJS(t, pl, 5*time.Second, `window.relaycast.video.playbackRate === 1.5`, "< to slow down")
	// Seek: back to the start with Home on the seek bar, then → jumps 5 s.
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`window.relaycast.video.pause()`)); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#seek")
	press(t, pl, kb.Home)
	waitJS(t, pl, 5*time.Second, `window.relaycast.video.currentTime < 0.5`, "Home to seek to the start")
	press(t, pl, kb.ArrowRight)
	waitJS(t, pl, 10*time.Second, `Math.abs(window.relaycast.video.currentTime - 5) < 0.5 && !window.relaycast.video.seeking`, "→ to seek to 5 s")
	if err := chromedp.Do(pl, chromedp.Click(chromedp.CSS("#play"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 10*time.Second, `window.relaycast.state === "playing" && window.relaycast.video.currentTime > 5.3`, "playing on from 5 s")
	// Help dialog.
	press(t, pl, "?")
	waitJS(t, pl, 5*time.Second, `document.getElementById("help").open`, "? to open the shortcuts")
	screenshots(t, pl, "player-help")
	press(t, pl, kb.Escape)
	waitJS(t, pl, 5*time.Second, `!document.getElementById("help").open`, "Esc to close the help")
	// Resume: pause at ~3 s, reload, the player starts there.
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`(() => { const v = window.relaycast.video; v.pause(); v.currentTime = 3; })()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 5*time.Second, `!window.relaycast.video.seeking && Number(localStorage.getItem("relaycast.pos.`+rec.ID+`")) > 2.5`, "the position to be saved")
	navigate(t, pl, srv.URL()+"/v/"+rec.ID)
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "ready" && Math.abs(window.relaycast.video.currentTime - 3) < 0.6`, "the reloaded player to resume at 3 s")
	if !strings.Contains(evalJS[string](t, pl, `document.getElementById("notice").textContent`), "Resumed at 0:03") {
		t.Error("no resume notice")
	}
	screenshots(t, pl, "player")
	tabThrough(t, pl, "player")

	// Unknown id: the page says so.
	navigate(t, pl, srv.URL()+"/v/20260101T000000Z-nope-00000000")
	waitJS(t, pl, 10*time.Second, `window.relaycast.state === "notfound" && document.body.innerText.includes("Recording not found")`, "the not-found message")
	if title := evalJS[string](t, pl, `document.title`); title != "Not found · relaycast" {
		t.Errorf("404 page title %q", title)
	}
}

// TestPlayerEditAndSubtitles: the room's seller edits title and description inline (a wrong token
// is refused with a clear message); a WebVTT file added to the recording shows in the subtitles
// menu and its cues display.
func TestPlayerEditAndSubtitles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	recordClip(t, srv, "shop", 3*time.Second)
	rec := waitRecording(t, srv, "shop", catalog.StatusReady, 120*time.Second)
	vtt := "WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nWelcome to the shop\n"
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/api/recordings/"+rec.ID+"/subtitles/en?label=English", strings.NewReader(vtt))
	req.Header.Set("Authorization", "Bearer "+adminToken(t, srv))
	req.Header.Set("Content-Type", "text/vtt")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT subtitles: %d", res.StatusCode)
	}
	ctx := browser(t)
	pl := tab(t, ctx)
	navigate(t, pl, srv.URL()+"/v/"+rec.ID)
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "ready"`, "the player")

	// Subtitles: the menu offers Off and English; English shows its cue.
	waitJS(t, pl, 5*time.Second, `!document.getElementById("subs-btn").closest(".menu-wrap").hidden && document.querySelectorAll("#subs-menu [role=menuitemradio]").length === 2`, "the subtitles menu with English")
	focus(t, pl, "#subs-btn")
	press(t, pl, kb.Enter)
	press(t, pl, kb.ArrowDown)
	press(t, pl, kb.Enter)
	waitJS(t, pl, 10*time.Second, `(() => { const tt = window.relaycast.video.textTracks[0]; return tt && tt.mode === "showing" && tt.cues && tt.cues.length === 1 && tt.cues[0].text === "Welcome to the shop"; })()`, "English subtitles showing with their cue")
	if b := evalJS[string](t, pl, `document.getElementById("subs-btn").textContent`); b != "Subtitles English" {
		t.Errorf("subtitles button says %q", b)
	}
	press(t, pl, "k")
	waitJS(t, pl, 10*time.Second, `window.relaycast.state === "playing" && window.relaycast.video.currentTime > 0.5`, "playback with subtitles")
	screenshots(t, pl, "player-subtitles")
	press(t, pl, "k")

	focus(t, pl, "#edit-btn")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 5*time.Second, `document.activeElement.id === "edit-title" && !document.getElementById("edit-token-field").hidden`, "the edit form, asking for a token")
	// Replace the title from the keyboard; paste a token of another room.
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`document.getElementById("edit-title").select()`)); err != nil {
		t.Fatal(err)
	}
	press(t, pl, "Spring sale")
	other := testserver.Token(t, srv, "other", auth.GrantPublish)
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`document.getElementById("edit-token").value = `+strconv.Quote(other))); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#edit-desc")
	press(t, pl, "Shoes, bags and hats.")
	screenshots(t, pl, "player-edit")
	focus(t, pl, "#edit-title")
	press(t, pl, kb.Enter) // submits the form
	waitJS(t, pl, 10*time.Second, `!document.getElementById("edit-error").hidden && document.getElementById("edit-error").textContent.includes("Not allowed")`, "the refusal of another room's token")
	seller := testserver.Token(t, srv, "shop", auth.GrantPublish)
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`document.getElementById("edit-token").value = `+strconv.Quote(seller))); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#edit-title")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 10*time.Second, `document.getElementById("edit-form").hidden && document.getElementById("title").textContent === "Spring sale" && document.getElementById("description").textContent === "Shoes, bags and hats." && document.activeElement.id === "edit-btn"`, "the saved title and description")
	got := waitRecording(t, srv, "shop", catalog.StatusReady, time.Second)
	if got.Title != "Spring sale" || got.Description != "Shoes, bags and hats." {
		t.Errorf("catalog has %q / %q", got.Title, got.Description)
	}
	// The token stays in the tab: the next edit does not ask again.
	if err := chromedp.Do(pl, chromedp.Click(chromedp.CSS("#edit-btn"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 5*time.Second, `!document.getElementById("edit-form").hidden && document.getElementById("edit-token-field").hidden`, "a second edit without the token field")
	if u := evalJS[string](t, pl, `location.href`); strings.Contains(u, "token") {
		t.Errorf("token in the URL: %s", u)
	}
}

// TestPlayerWhileRecording: with short chunks, a broadcast's first chunks are transcoded while it
// is live; its player plays the playlist of the parts done so far (live.m3u8) and switches to
// the final playlist when /api/events says the recording is ready.
func TestPlayerWhileRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := testserver.Start(t, func(c *config.Config) { c.ChunkDuration = 2 * time.Second })
	if code, err := httpGet(srv.URL() + "/v/x"); err != nil || code != 200 {
		t.Skipf("web UI not built (%d %v)", code, err)
	}
	pub, stop := publish(t, srv, "shop", 14*time.Second)
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	var rec catalog.Recording
	for rec.HLSURL == "" {
		if time.Now().After(deadline) {
			t.Fatal("no playlist while recording")
		}
		time.Sleep(200 * time.Millisecond)
		for _, r := range recordings(t, srv) {
			if r.Room == "shop" && r.Status == catalog.StatusRecording {
				rec = r
			}
		}
	}
	ctx := browser(t)
	pl := tab(t, ctx)
	navigate(t, pl, srv.URL()+"/v/"+rec.ID)
	waitJS(t, pl, 20*time.Second, `window.relaycast.src.endsWith("live.m3u8") && window.relaycast.recording.status === "recording"`, "the player to load the live playlist")
	if !strings.Contains(evalJS[string](t, pl, `document.getElementById("notice").textContent`), "still live") {
		t.Error("no notice that the broadcast is still live")
	}
	press(t, pl, "k")
	waitJS(t, pl, 20*time.Second, `window.relaycast.video.currentTime > 0.5 && window.relaycast.video.getVideoPlaybackQuality().totalVideoFrames > 10`, "playback of the parts done so far")
	screenshots(t, pl, "player-recording")
	select {
	case <-pub.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("publisher did not finish")
	}
	stop()
	waitJS(t, pl, 120*time.Second, `window.relaycast.recording.status === "ready" && window.relaycast.src.endsWith("master.m3u8")`, "the switch to the final playlist")
	waitJS(t, pl, 20*time.Second, `window.relaycast.video.duration > 12`, "the full length")
}
