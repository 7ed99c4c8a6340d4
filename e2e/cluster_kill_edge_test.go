package e2e_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/lbtest"
)

// TestClusterEdgeKilled: three real `serve` nodes behind a real HAProxy; the room is published
// (WHIP, a VP8 + Opus clip) to n0, a Chromium watch page reaches n1 through the balancer (the
// others held in maintenance) and plays from n1's edge copy. n1 is killed with SIGKILL: the page
// plays again through the balancer from another node. The time from the kill is measured and
// logged (the target is 3 s); the test fails only if it does not play again in 15 s.
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
