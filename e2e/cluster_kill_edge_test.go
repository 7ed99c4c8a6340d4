package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/lbtest"
	"github.com/relaycast/relaycast/internal/pgtest"
)

// TestClusterEdgeKilled: three real `serve` nodes behind a real HAProxy; the room is published
// (WHIP, a VP8 + Opus clip) to n0, a Chromium watch page reaches n1 through the balancer (the
// others held in maintenance) and plays from n1's edge copy. n1 is killed with SIGKILL: the page
// plays again through the balancer from another node. The time from the kill is measured and
// logged (the issue's target is 3 s); the test fails only if it does not play again in 15 s.
func TestClusterEdgeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes, HAProxy and Chromium (skipped with -short)")
	}
	lbtest.Binary(t)
	chromium(t)
	needFFmpeg(t)
	redisURL := ownRedis(t)
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	const secret = "lb-kill-secret-0123456789abcdef"
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	storage := t.TempDir()
	var nodes []*lbNode
	var backends, names []string
	for i := range 3 {
		n := startLBNode(t, bin, fmt.Sprintf("k%d", i), secret, redisURL, storage, 15*time.Second)
		nodes = append(nodes, n)
		backends, names = append(backends, n.addr), append(names, n.name)
	}
	lb := lbtest.Start(t, lbtest.Params{Backends: backends, Names: names})
	const room = "killedge"
	stop := publishTo(t, nodes[0], signer, room)
	defer stop()

	edge := nodes[1]
	setLB(t, lb, "maint", "MAINT", nodes[0].name, nodes[2].name)
	browserCtx := browser(t)
	watch := tab(t, browserCtx)
	if err := chromedp.Do(watch, chromedp.Navigate(lb.URL+"/watch/"+room)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, watch, 20*time.Second, `window.relaycast && window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 10`, "the watch page to play on the edge")
	if n := pageNode(t, watch, nodes); n != edge {
		t.Fatalf("the watch page plays from %s, want the edge %s", n.name, edge.name)
	}
	setLB(t, lb, "ready", "UP", nodes[0].name, nodes[2].name)
	if _, err := chromedp.Run(watch, chromedp.Evaluate[bool](`(window.__lbpc = window.relaycast.pc, window.__lbstates = [window.relaycast.state], setInterval(() => {
	  const s = window.relaycast.state; if (window.__lbstates[window.__lbstates.length - 1] !== s) window.__lbstates.push(s);
	}, 10), true)`)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := edge.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var diag []string
	var again time.Duration
	for deadline := killed.Add(15 * time.Second); again == 0; time.Sleep(20 * time.Millisecond) {
		if ok, err := chromedp.Run(watch, chromedp.Evaluate[bool](`window.relaycast.state === "playing" && !!window.relaycast.pc && window.relaycast.pc !== window.__lbpc`)); err == nil && ok {
			again = time.Since(killed)
			break
		}
		if time.Since(killed) > time.Duration(len(diag))*time.Second {
			w, _ := chromedp.Run(watch, chromedp.Evaluate[string](diagIn, awaitPromise))
			diag = append(diag, fmt.Sprintf("%v: watch %s", time.Since(killed).Round(time.Millisecond), w))
		}
		if time.Now().After(deadline) {
			states, _ := chromedp.Run(watch, chromedp.Evaluate[[]string](`window.__lbstates`))
			t.Fatalf("the killed edge's viewer did not play again within 15 s (states %v):\n%s", states, strings.Join(diag, "\n"))
		}
	}
	waitJS(t, watch, 10*time.Second, `window.relaycast.framesDecoded() > 30`, "30 frames decoded after the kill")
	states, _ := chromedp.Run(watch, chromedp.Evaluate[[]string](`window.__lbstates`))
	from := pageNode(t, watch, nodes)
	t.Logf("SIGKILL of the edge → its viewer plays again (from %s): %v; page states %v", from.name, again.Round(time.Millisecond), states)
	if from == edge {
		t.Errorf("the viewer plays from the killed node")
	}
	if again > 3*time.Second { // a measurement, as in TestClusterBehindHAProxy
		t.Logf("above the 3 s target; the page's video stats meanwhile:\n%s", strings.Join(diag, "\n"))
	}
	for _, s := range states {
		if s == "error" {
			t.Errorf("the viewer went %q while moving (states %v)", s, states)
		}
	}
}

// TestClusterOriginKilled: the Chromium broadcast page reaches k0 through HAProxy (the origin),
// a watch page reaches k1 (an edge); k0 is killed with SIGKILL. The broadcast page reconnects
// through the balancer and publishes again on another node once the dead owner's lease lapses
// (≤ 3 s), the watch page plays again (its edge re-pulls from the new owner, or it lands on the
// new origin), and the show is still one recording. The times from the kill are measured and
// logged; the test fails only if either page is not back within 20 s.
func TestClusterOriginKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes, HAProxy and Chromium (skipped with -short)")
	}
	lbtest.Binary(t)
	chromium(t)
	needFFmpeg(t)
	redisURL := ownRedis(t)
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	const secret = "lb-kill-secret-0123456789abcdef"
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	storage := t.TempDir()
	catalogURL := pgtest.URL(t) // one catalog for the three nodes, as in a real cluster
	var nodes []*lbNode
	var backends, names []string
	for i := range 3 {
		n := startLBNode(t, bin, fmt.Sprintf("o%d", i), secret, redisURL, storage, 15*time.Second, "--catalog-url", catalogURL)
		nodes = append(nodes, n)
		backends, names = append(backends, n.addr), append(names, n.name)
	}
	lb := lbtest.Start(t, lbtest.Params{Backends: backends, Names: names})
	origin, edge := nodes[0], nodes[1]
	const show = "killorigin"
	tok, _ := signer.Issue(show, []auth.Grant{auth.GrantPublish}, time.Hour, "kill-seller")
	browserCtx := browser(t)

	setLB(t, lb, "maint", "MAINT", nodes[1].name, nodes[2].name)
	pub := tab(t, browserCtx)
	if err := chromedp.Do(pub, chromedp.Navigate(fmt.Sprintf("%s/broadcast/%s?token=%s&autostart=1", lb.URL, show, tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pub, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live through HAProxy")
	setLB(t, lb, "ready", "UP", edge.name)
	setLB(t, lb, "maint", "MAINT", origin.name)
	watch := tab(t, browserCtx)
	if err := chromedp.Do(watch, chromedp.Navigate(lb.URL+"/watch/"+show)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, watch, 20*time.Second, `window.relaycast && window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 10`, "the watch page to play on the edge")
	if p, w := pageNode(t, pub, nodes), pageNode(t, watch, nodes); p != origin || w != edge {
		t.Fatalf("the pages reached nodes %s and %s, want %s and %s", p.name, w.name, origin.name, edge.name)
	}
	setLB(t, lb, "ready", "UP", nodes[2].name)
	const mark = `(window.__lbpc = window.relaycast.pc, window.__lbstates = [window.relaycast.state], setInterval(() => {
	  const s = window.relaycast.state; if (window.__lbstates[window.__lbstates.length - 1] !== s) window.__lbstates.push(s);
	}, 10), true)`
	for _, page := range []context.Context{pub, watch} {
		if _, err := chromedp.Run(page, chromedp.Evaluate[bool](mark)); err != nil {
			t.Fatal(err)
		}
	}
	killed := time.Now()
	if err := origin.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	moved := `window.relaycast.state === %q && !!window.relaycast.pc && window.relaycast.pc !== window.__lbpc`
	var republished, again time.Duration
	for deadline := killed.Add(20 * time.Second); republished == 0 || again == 0; time.Sleep(20 * time.Millisecond) {
		if ok, err := chromedp.Run(pub, chromedp.Evaluate[bool](fmt.Sprintf(moved, "live"))); republished == 0 && err == nil && ok {
			republished = time.Since(killed)
		}
		if ok, err := chromedp.Run(watch, chromedp.Evaluate[bool](fmt.Sprintf(moved, "playing"))); again == 0 && err == nil && ok {
			again = time.Since(killed)
		}
		if time.Now().After(deadline) {
			ps, _ := chromedp.Run(pub, chromedp.Evaluate[[]string](`window.__lbstates`))
			ws, _ := chromedp.Run(watch, chromedp.Evaluate[[]string](`window.__lbstates`))
			t.Fatalf("within 20 s of the origin's SIGKILL: broadcast page live again after %v, watch page playing again after %v (0: not yet); states %v / %v", republished, again, ps, ws)
		}
	}
	waitJS(t, watch, 15*time.Second, `window.relaycast.framesDecoded() > 30`, "30 frames decoded after the kill")
	ps, _ := chromedp.Run(pub, chromedp.Evaluate[[]string](`window.__lbstates`))
	ws, _ := chromedp.Run(watch, chromedp.Evaluate[[]string](`window.__lbstates`))
	newOrigin := pageNode(t, pub, nodes)
	for _, s := range ws {
		if s == "ended" || s == "error" { // the edge's viewers are told the show goes on elsewhere
			t.Errorf("the watch page went %q while its origin moved (states %v)", s, ws)
		}
	}
	t.Logf("SIGKILL of the origin → the broadcast page live again (on %s): %v; → the watch page plays again (from %s): %v; states %v / %v",
		newOrigin.name, republished.Round(time.Millisecond), pageNode(t, watch, nodes).name, again.Round(time.Millisecond), ps, ws)
	if newOrigin == origin {
		t.Error("the broadcast page publishes to the killed node")
	}
	// One show, one recording: the new origin continued the recording the killed one began.
	var page struct {
		Recordings []struct {
			ID, Room, Status string
		} `json:"recordings"`
	}
	res, err := http.Get(lb.URL + "/api/recordings?room=" + show)
	if err != nil {
		t.Fatal(err)
	}
	err = jsonDecode(res, &page)
	n := 0
	for _, r := range page.Recordings {
		if r.Room == show {
			n++
		}
	}
	if err != nil || n != 1 {
		t.Errorf("recordings of the show after the origin's kill: %d (%+v, %v), want 1", n, page.Recordings, err)
	}
}
