package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestPlayerSubtitleUpload: the seller opens the player with the room's token, uploads a .vtt
// through the edit area's file input; the subtitles menu and the <video>'s tracks list it at once
// and its cues load; a file that is not WebVTT shows the API's error next to the form; Remove
// deletes it from the menu, the tracks and the API.
func TestPlayerSubtitleUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	recordClip(t, srv, "shop", 3*time.Second)
	rec := waitRecording(t, srv, "shop", catalog.StatusReady, 120*time.Second)

	dir := t.TempDir()
	good := filepath.Join(dir, "german.vtt")
	if err := os.WriteFile(good, []byte("WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nWillkommen im Laden\n\n00:00:10.000 --> 00:00:20.000\nBis bald\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "notes.vtt")
	if err := os.WriteFile(bad, []byte("1\n00:00:00,000 --> 00:00:02,000\nthis is SRT, not WebVTT\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	pl := tab(t, ctx)
	seller := testserver.Token(t, srv, "shop", auth.GrantPublish)
	navigate(t, pl, srv.URL()+"/v/"+rec.ID+"?token="+seller)
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "ready"`, "the player")
	if !evalJS[bool](t, pl, `document.getElementById("subs-btn").closest(".menu-wrap").hidden`) {
		t.Error("the subtitles menu is shown for a recording without subtitles")
	}

	focus(t, pl, "#edit-btn")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 5*time.Second, `!document.getElementById("subs-form").hidden && document.getElementById("edit-token-field").hidden && !document.getElementById("subs-none").hidden`, "the subtitles form (token from the link)")

	// Upload a .vtt: file input, language and label typed from the keyboard, Enter submits.
	if err := chromedp.Do(pl, chromedp.SetUploadFiles(chromedp.CSS("#subs-file"), []string{good})); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#subs-lang")
	press(t, pl, "de")
	focus(t, pl, "#subs-label")
	press(t, pl, "Deutsch")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 10*time.Second, `document.querySelectorAll("#subs-menu [role=menuitemradio]").length === 2 && !document.getElementById("subs-btn").closest(".menu-wrap").hidden && [...document.querySelectorAll("#subs-menu [role=menuitemradio]")].some((m) => m.textContent.includes("Deutsch"))`, "Deutsch in the subtitles menu")
	if !evalJS[bool](t, pl, `(() => { const tr = window.relaycast.video.querySelectorAll("track"); return tr.length === 1 && tr[0].label === "Deutsch" && tr[0].srclang === "de"; })()`) {
		t.Error("the <video> has no track labelled Deutsch")
	}
	if !evalJS[bool](t, pl, `!!document.querySelector('#subs-list li[data-lang="de"] button') && document.getElementById("subs-error").hidden`) {
		t.Error("the uploaded subtitles are not listed with a Remove button")
	}
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`window.relaycast.video.textTracks[0].mode = "showing"`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 10*time.Second, `(() => { const tt = window.relaycast.video.textTracks[0]; return tt.mode === "showing" && tt.cues && tt.cues.length === 2 && tt.cues[0].text === "Willkommen im Laden"; })()`, "the uploaded cues to load")
	got := waitRecording(t, srv, "shop", catalog.StatusReady, time.Second)
	if len(got.Subtitles) != 1 || got.Subtitles[0].Lang != "de" || got.Subtitles[0].Label != "Deutsch" {
		t.Fatalf("catalog subtitles after upload: %+v", got.Subtitles)
	}
	screenshots(t, pl, "player-subtitles-edit")

	// Not WebVTT: the API's 400 message appears next to the form (role=alert); nothing changes.
	if err := chromedp.Do(pl, chromedp.SetUploadFiles(chromedp.CSS("#subs-file"), []string{bad})); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#subs-lang")
	press(t, pl, "fr")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 10*time.Second, `(() => { const e = document.getElementById("subs-error"); return !e.hidden && e.getAttribute("role") === "alert" && e.textContent.includes("must be a WebVTT file"); })()`, "the API's error for a non-WebVTT file")
	if n := evalJS[int](t, pl, `document.querySelectorAll("#subs-list li").length`); n != 1 {
		t.Errorf("%d subtitles listed after a refused upload", n)
	}
	// A language the API would refuse is caught before the upload.
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`document.getElementById("subs-lang").value = "../x"`)); err != nil {
		t.Fatal(err)
	}
	focus(t, pl, "#subs-lang")
	press(t, pl, kb.Enter)
	waitJS(t, pl, 5*time.Second, `document.getElementById("subs-error").textContent.includes("Language") && document.getElementById("subs-lang").getAttribute("aria-invalid") === "true" && document.activeElement.id === "subs-lang"`, "the language check")

	// Remove from the keyboard: gone from the list, the menu, the tracks and the API.
	focus(t, pl, `#subs-list li[data-lang="de"] button`)
	press(t, pl, kb.Enter)
	waitJS(t, pl, 10*time.Second, `document.querySelectorAll("#subs-list li").length === 0 && document.getElementById("subs-btn").closest(".menu-wrap").hidden && document.querySelectorAll("#subs-menu [role=menuitemradio]").length === 1 && window.relaycast.video.querySelectorAll("track").length === 0`, "the subtitles to disappear from the page")
	got = waitRecording(t, srv, "shop", catalog.StatusReady, time.Second)
	if len(got.Subtitles) != 0 {
		t.Errorf("catalog still has subtitles: %+v", got.Subtitles)
	}
	res, err := http.Get(srv.URL() + "/api/recordings/" + rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	var fresh catalog.Recording
	if err := jsonDecode(res, &fresh); err != nil {
		t.Fatal(err)
	}
	if len(fresh.Subtitles) != 0 || strings.Contains(evalJS[string](t, pl, `document.getElementById("details").textContent`), "Deutsch") {
		t.Errorf("subtitles still listed: API %+v", fresh.Subtitles)
	}
}
