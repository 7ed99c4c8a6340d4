package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/server"
)

func needFFmpeg(t *testing.T) { t.Helper(); testmedia.NeedFFmpeg(t) }

// clips are the VP8/Opus clips of this test binary, made once per duration.
var clips testmedia.Clips

func clip(t *testing.T, d time.Duration) (video, audio string) { t.Helper(); return clips.Get(t, d) }

// publish sends a clip of d into room over WHIP (a real recording); stop ends the broadcast.
func publish(t *testing.T, srv *server.Server, room string, d time.Duration) (pub *client.FilePublisher, stop func()) {
	t.Helper()
	v, a := clip(t, d)
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	tok, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	var loc string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, srv.URL()+"/whip/"+room, tok, &loc)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return pub, func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.Delete(ctx, nil, loc, tok)
			_ = pub.Close()
		})
	}
}

// recordClip publishes a whole clip of d and ends the broadcast when it is done.
func recordClip(t *testing.T, srv *server.Server, room string, d time.Duration) {
	t.Helper()
	pub, stop := publish(t, srv, room, d)
	select {
	case <-pub.Done():
	case <-time.After(d + 20*time.Second):
		t.Fatal("publisher did not finish")
	}
	stop()
}

func adminToken(t *testing.T, srv *server.Server) string {
	t.Helper()
	tok, err := srv.Signer().Issue(auth.AnyRoom, []auth.Grant{auth.GrantAdmin}, time.Hour, "e2e-admin")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// recordings lists the catalog over the API.
func recordings(t *testing.T, srv *server.Server) []catalog.Recording {
	t.Helper()
	res, err := http.Get(srv.URL() + "/api/recordings?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page catalog.Page
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Recordings
}

// waitRecording polls the API until the recording of room has status, returning it.
func waitRecording(t *testing.T, srv *server.Server, room string, status catalog.Status, d time.Duration) catalog.Recording {
	t.Helper()
	deadline := time.Now().Add(d)
	var last []catalog.Recording
	for time.Now().Before(deadline) {
		last = recordings(t, srv)
		for _, r := range last {
			if r.Room == room && r.Status == status {
				return r
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no recording of %s is %s after %s: %+v", room, status, d, last)
	return catalog.Recording{}
}

// navigate opens url in ctx and waits for the page's window.relaycast hook.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, `!!window.relaycast`, "the page script")
}

// ---- screenshots ----

// Screenshots go to screenshotDir(t) (upload_test.go): $RELAYCAST_SCREENSHOTS or a temporary directory.

// screenshots saves full-page PNGs of the current page at desktop (1280) and phone (390) widths
// as NAME-1280.png and NAME-390.png. Failing to save is logged, never fatal.
func screenshots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := screenshotDir(t)
	for _, w := range []int64{1280, 390} {
		h := int64(800)
		if w < 500 {
			h = 844
		}
		var opts []chromedp.EmulateViewportOption
		if w < 500 {
			opts = append(opts, chromedp.EmulateMobile) // overlay scrollbars: the page gets all 390 px
		}
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(w, h, opts...),
			chromedp.Sleep(300*time.Millisecond), // layout settles after the resize
		)
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		}
		if err != nil {
			t.Logf("screenshot %s at %d: %v", name, w, err)
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Logf("screenshot %s: %v", path, err)
		} else {
			t.Logf("screenshot %s (%d KiB)", path, len(png)/1024)
		}
	}
	_ = chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800))
}

// colorScheme emulates prefers-color-scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// darkScreenshot saves NAME-dark-1280.png with prefers-color-scheme: dark.
func darkScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	err := chromedp.Do(ctx, colorScheme("dark"), chromedp.EmulateViewport(1280, 800), chromedp.Sleep(300*time.Millisecond))
	var png []byte
	if err == nil {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	_ = chromedp.Do(ctx, colorScheme("light"))
	if err != nil {
		t.Logf("dark screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(screenshotDir(t), name+"-dark-1280.png")
	if err := os.WriteFile(path, png, 0o644); err == nil {
		t.Logf("screenshot %s (%d KiB)", path, len(png)/1024)
	}
}

// ---- keyboard ----

// focusables lists the page's visible, enabled controls a keyboard user must reach with Tab.
const focusables = `(() => {
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])';
  const visible = (e) => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.closest('[hidden], dialog:not([open])'); };
  return [...document.querySelectorAll(sel)].filter(e => !e.disabled && e.tabIndex >= 0 && visible(e));
})()`

// tabThrough presses Tab from the top of the page until focus has visited every visible control
// (or 3× their number of presses), checking that each focused element shows a focus indicator
// (outline or box-shadow). It fails listing the controls never reached.
func tabThrough(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => {
	  window.__tabSeen = new Set(); window.__tabNoRing = [];
	  document.activeElement && document.activeElement.blur && document.activeElement.blur();
	  window.scrollTo(0, 0);
	  // Start from the document: the first Tab goes to the first control.
	  document.body.setAttribute('tabindex', '-1'); document.body.focus(); document.body.removeAttribute('tabindex');
	})()`)); err != nil {
		t.Fatal(err)
	}
	n := evalJS[int](t, ctx, focusables+`.length`)
	if n == 0 {
		t.Fatalf("%s: no focusable controls", page)
	}
	record := `(() => {
	  const e = document.activeElement; if (!e || e === document.body) return;
	  const list = ` + focusables + `; const i = list.indexOf(e); if (i >= 0) window.__tabSeen.add(i);
	  const s = getComputedStyle(e); const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== 'none');
	  // A card link shows its ring on the card (:focus-within).
	  const card = e.closest('.rec-card'); const cardRing = card && getComputedStyle(card).boxShadow !== 'none';
	  if (!ring && !cardRing) window.__tabNoRing.push(e.outerHTML.slice(0, 80));
	})()`
	for i := 0; i < 3*n+5; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](record)); err != nil {
			t.Fatal(err)
		}
		if evalJS[int](t, ctx, `window.__tabSeen.size`) >= n {
			break
		}
	}
	missed := evalJS[[]string](t, ctx, `(() => { const l = `+focusables+`; return l.filter((e, i) => !window.__tabSeen.has(i)).map(e => e.outerHTML.slice(0, 100)); })()`)
	noRing := evalJS[[]string](t, ctx, `window.__tabNoRing`)
	if len(missed) > 0 {
		t.Errorf("%s: Tab never reached %d of %d controls: %s", page, len(missed), n, strings.Join(missed, " | "))
	}
	if len(noRing) > 0 {
		t.Errorf("%s: focused without a visible focus indicator: %s", page, strings.Join(noRing, " | "))
	}
	t.Logf("%s: Tab reached all %d controls, each with a focus ring", page, n)
}

// press sends one key to the focused element (or the page).
func press(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
		t.Fatal(err)
	}
}

// focus focuses the element matching sel.
func focus(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(sel))); err != nil {
		t.Fatalf("focus %s: %v", sel, err)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}
