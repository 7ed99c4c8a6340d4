package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/relaycast/relaycast/auth"
)

// sendingRIDs lists the broadcast page's video encodings that are sending frames, by rid.
const sendingRIDs = `(async () => {
  const rids = [];
  (await window.relaycast.pc.getStats()).forEach(r => {
    if (r.type === "outbound-rtp" && r.kind === "video" && r.rid && r.frameWidth > 0) rids.push(r.rid + ":" + r.frameWidth);
  });
  return rids.sort().join(",");
})()`

// sendDiag describes, on a failure, why layers are missing: per outbound video rid its frame width,
// frames per second, quality limitation and its durations; the candidate pair's send-side estimate.
const sendDiag = `(async () => {
  const out = [];
  (await window.relaycast.pc.getStats()).forEach(r => {
    if (r.type === "outbound-rtp" && r.kind === "video") out.push((r.rid || "-") + ":" + (r.frameWidth || 0) + "px " + (r.framesPerSecond || 0) + "fps limit=" + r.qualityLimitationReason + " " + JSON.stringify(r.qualityLimitationDurations || {}) + " active=" + r.active);
    if (r.type === "candidate-pair" && r.nominated) out.push("estimate=" + r.availableOutgoingBitrate);
  });
  return out.sort().join("; ");
})()`

// pickQuality chooses an entry of the watch page's quality menu the way a user does.
func pickQuality(q string) string {
	return fmt.Sprintf(`(() => { const s = document.querySelector("#quality"); s.value = %q; s.dispatchEvent(new Event("change")); return s.value; })()`, q)
}

// The broadcast page publishes three simulcast layers; the watch page's quality menu switches the
// received video between them (the decoded frame width follows) and shows the layer.
func TestSimulcastBroadcastAndQualityMenu(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	tok, err := srv.Signer().Issue("simul", []auth.Grant{auth.GrantPublish}, time.Hour, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)

	pubTab := tab(t, ctx)
	if err := chromedp.Do(pubTab, chromedp.Navigate(fmt.Sprintf("%s/broadcast/simul?token=%s&autostart=1", srv.URL(), tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live")
	layers, err := chromedp.Run(pubTab, chromedp.Evaluate[[]string](`window.relaycast.layers`))
	if err != nil || fmt.Sprint(layers) != "[q h f]" {
		t.Fatalf("broadcast page encodings %v, %v: want q h f", layers, err)
	}
	// All three layers leave the browser (getStats outbound-rtp per rid, each with frames).
	var rids string
	deadline := time.Now().Add(30 * time.Second)
	for {
		rids, err = chromedp.Run(pubTab, chromedp.Evaluate[string](sendingRIDs, awaitPromise))
		if err == nil && strings.Count(rids, ":") == 3 {
			break
		}
		if time.Now().After(deadline) {
			diag, _ := chromedp.Run(pubTab, chromedp.Evaluate[string](sendDiag, awaitPromise))
			t.Fatalf("outbound video layers sending: %q, %v; want three rids (%s)", rids, err, diag)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("outbound layers (rid:width): %s", rids)
	// What the publisher sends from here on, every 5 s (shown when the test fails): a layer the
	// browser stops (its estimate, or CPU) is one the server cannot send.
	stopDiag := make(chan struct{})
	diagDone := make(chan struct{})
	go func() {
		defer close(diagDone)
		for {
			select {
			case <-stopDiag:
				return
			case <-time.After(5 * time.Second):
				if d, err := chromedp.Run(pubTab, chromedp.Evaluate[string](sendDiag, awaitPromise)); err == nil {
					t.Logf("publisher: %s", d)
				}
			}
		}
	}()
	defer func() { close(stopDiag); <-diagDone }()

	watchTab, pick := watchWithQualityMenu(t, ctx, srv.URL()+"/watch/simul", "simulcast")
	choose := func(q string) int {
		t.Helper()
		w := pick(q)
		label, _ := chromedp.Run(watchTab, chromedp.Evaluate[string](`document.querySelector("#quality").selectedOptions[0].textContent`))
		t.Logf("quality %s: video %d px wide (menu shows %q)", q, w, label)
		return w
	}

	high := choose("high")
	low := choose("low")
	if low >= high {
		t.Errorf("frame width on low = %d, on high = %d: want it to drop", low, high)
	}
	waitJS(t, watchTab, 10*time.Second, `window.relaycast.framesDecoded() > 0`, "frames on the low layer")
	high2 := choose("high")
	if high2 <= low {
		t.Errorf("frame width back on high = %d, on low = %d: want it to rise", high2, low)
	}
	// Chromium estimates its bandwidth from the abs-send-time the SFU writes and sends REMB.
	for deadline := time.Now().Add(20 * time.Second); srv.SFU().Stats().REMBs == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch page sent no REMB")
		}
	}
	st := srv.SFU().Stats()
	t.Logf("REMBs from the watch page: %d; UDP GSO %v: %d datagrams in %d messages", st.REMBs, st.GSO, st.Datagrams, st.SendMessages)
	if _, err := chromedp.Run(watchTab, chromedp.Evaluate[string](pickQuality("auto"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, watchTab, 10*time.Second, `document.querySelector("#quality").selectedOptions[0].textContent.startsWith("Auto (")`, "the Auto entry to name the layer")
}

// settledWidth polls width until it gives the same value five times in a row (200 ms apart) or
// 20 s pass, and returns the last value: the decoder follows a layer switch at the next picture
// or keyframe.
func settledWidth(width func() int) int {
	var w, same int
	for deadline := time.Now().Add(20 * time.Second); same < 5 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if n := width(); n == w {
			same++
		} else {
			w, same = n, 0
		}
	}
	return w
}

// watchWithQualityMenu opens the watch page of url, waits until it plays a layer (what names
// it) and shows the quality menu, and returns the tab and pick, which
// chooses quality q as a user does, waits for the server to send it and returns the settled width.
func watchWithQualityMenu(t *testing.T, ctx context.Context, url, what string) (watchTab context.Context, pick func(q string) int) {
	t.Helper()
	watchTab = tab(t, ctx)
	if err := chromedp.Do(watchTab, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, watchTab, 30*time.Second, `window.relaycast.state === "playing" && window.relaycast.layer !== ""`, "playing a "+what+" layer")
	waitJS(t, watchTab, 5*time.Second, `!document.querySelector(".quality").hidden && document.querySelector("#quality").options.length === 4`, "the quality menu")
	width := func() int {
		w, err := chromedp.Run(watchTab, chromedp.Evaluate[int](`document.querySelector("video").videoWidth`))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	pick = func(q string) int {
		t.Helper()
		if _, err := chromedp.Run(watchTab, chromedp.Evaluate[string](pickQuality(q))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, watchTab, 30*time.Second, fmt.Sprintf(`window.relaycast.layer === %q`, q), "the server to send the "+q+" "+what+" layer")
		// The decoder follows at the next picture (down) or keyframe (up): wait for the size to settle.
		return settledWidth(width)
	}
	return watchTab, pick
}
