package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/catalog"
)

// hitTestJS runs before the player's own script: every 15 ms it checks that each enabled control
// of the player's bar gets a click at its centre (elementFromPoint is the control or inside it)
// and records the ones something else covers. A control that looks enabled must act.
const hitTestJS = `(() => {
  window.__blocked = [];
  const check = () => {
    for (const b of document.querySelectorAll('.controls button, .controls input')) {
      if (b.disabled || b.closest('[hidden]')) continue;
      const r = b.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      if (y < 0 || y > innerHeight || x < 0 || x > innerWidth) continue;
      const hit = document.elementFromPoint(x, y);
      if (!hit || !(hit === b || b.contains(hit))) {
        if (window.__blocked.length < 20) window.__blocked.push(b.id + " covered by " + (hit ? (hit.id || hit.className || hit.tagName) : "nothing") + " in state " + (window.relaycast ? window.relaycast.state : "?"));
      }
    }
  };
  setInterval(check, 15);
})()`

// centre returns the viewport centre of the element matching sel (scrolled into view first).
func centre(t *testing.T, ctx context.Context, sel string) (x, y float64) {
	t.Helper()
	xy := evalJS[[]float64](t, ctx, `(() => { const e = document.querySelector(`+jsString(sel)+`); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
	return xy[0], xy[1]
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// realClick clicks the element matching sel with the mouse (CDP Input.dispatchMouseEvent at its
// centre): whatever is on top at that point gets the click, as for a person.
func realClick(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	x, y := centre(t, ctx, sel)
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestPlayerFirstClick (issue 12, defect 1): with the playlists answered slowly (1.5 s each, as
// on a slow network), a real mouse click on Play as soon as Play is enabled starts playback —
// no overlay swallows it; no enabled control is ever covered while the player loads; Quality is
// enabled only once it has renditions to offer, and its menu opens on the first click. The menu
// stays inside the player and keeps each item on one line, at 1280 px and at 390 px.
func TestPlayerFirstClick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	recordClip(t, srv, "shop", 4*time.Second)
	rec := waitRecording(t, srv, "shop", catalog.StatusReady, 120*time.Second)
	slow := newHTTPProxy(t, srv.URL(), func(r *http.Request) time.Duration {
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			return 1500 * time.Millisecond
		}
		return 0
	}, nil)

	ctx := browser(t)
	pl := tab(t, ctx)
	if err := chromedp.Do(pl, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hitTestJS})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(pl, chromedp.Navigate(slow.URL+"/v/"+rec.ID)); err != nil {
		t.Fatal(err)
	}
	// As soon as Play is enabled: click it for real.
	deadline := time.Now().Add(20 * time.Second)
	for evalJS[bool](t, pl, `!window.relaycast || document.getElementById("play").disabled`) {
		if time.Now().After(deadline) {
			t.Fatal("Play never enabled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stateAtClick := evalJS[string](t, pl, `window.relaycast.state`)
	realClick(t, pl, "#play")
	if stateAtClick != "loading" {
		t.Logf("note: Play enabled in state %q (the slow playlists should keep it loading)", stateAtClick)
	}
	waitJS(t, pl, 30*time.Second, `window.relaycast.state === "playing" && !window.relaycast.video.paused && window.relaycast.video.currentTime > 0.5`,
		"the first real click on Play (made while "+stateAtClick+") to start playback")
	t.Logf("Play was enabled (and clicked) in state %q; playback started", stateAtClick)

	// Quality: enabled only with renditions; the first real click opens the menu.
	waitJS(t, pl, 20*time.Second, `!document.getElementById("quality-btn").disabled`, "Quality to be enabled")
	if n := evalJS[int](t, pl, `document.querySelectorAll("#quality-menu [role=menuitemradio]").length`); n < 3 {
		t.Fatalf("Quality enabled with %d menu items (want Auto + 2 renditions)", n)
	}
	if blocked := evalJS[[]string](t, pl, `window.__blocked`); len(blocked) > 0 {
		t.Errorf("enabled controls that a click could not reach while loading: %v", blocked)
	}
	checkQualityMenu(t, pl, "1280 px")

	// Phone: the menu opens inside the player, not cut off at its left edge.
	if err := chromedp.Do(pl, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	checkQualityMenu(t, pl, "390 px")
	if png, err := chromedp.Run(pl, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(screenshotDir(t), "player-quality-390.png")
		if err := os.WriteFile(path, png, 0o644); err == nil {
			t.Logf("screenshot %s", path)
		}
	}
	_ = chromedp.Do(pl, chromedp.EmulateViewport(1280, 800))
}

// checkQualityMenu opens the quality menu with a real click and checks that it lies inside the
// player and that no item wraps onto a second line; the menu stays open.
func checkQualityMenu(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if evalJS[bool](t, ctx, `!document.getElementById("quality-menu").hidden`) {
		realClick(t, ctx, "#quality-btn") // close it first
	}
	realClick(t, ctx, "#quality-btn")
	waitJS(t, ctx, 5*time.Second, `!document.getElementById("quality-menu").hidden`, "the quality menu to open on a click ("+what+")")
	type layout struct {
		Inside bool      `json:"inside"`
		Lines  []int     `json:"lines"`
		Menu   []float64 `json:"menu"`
		Player []float64 `json:"player"`
	}
	l := evalJS[layout](t, ctx, `(() => {
	  const p = document.getElementById("player").getBoundingClientRect();
	  const m = document.getElementById("quality-menu"); const r = m.getBoundingClientRect();
	  const lines = [...m.querySelectorAll("[role=menuitemradio]")].map(b => {
	    const rg = document.createRange(); rg.selectNodeContents(b);
	    return new Set([...rg.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size;
	  });
	  return {inside: r.left >= p.left - 0.5 && r.right <= p.right + 0.5 && r.top >= p.top - 0.5 && r.bottom <= p.bottom + 0.5,
	    lines, menu: [r.left, r.top, r.right, r.bottom], player: [p.left, p.top, p.right, p.bottom]};
	})()`)
	if !l.Inside {
		t.Errorf("%s: the quality menu %v is not inside the player %v (cut off)", what, l.Menu, l.Player)
	}
	for i, n := range l.Lines {
		if n != 1 {
			t.Errorf("%s: quality menu item %d is on %d lines", what, i, n)
		}
	}
}
