package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/relaycast/relaycast/auth"
)

// videoRTP describes a page's video RTP streams from getStats: direction, codec, scalability
// mode (outbound) and frame width.
const videoRTP = `(async () => {
  const stats = await window.relaycast.pc.getStats();
  const out = [];
  stats.forEach(r => {
    if ((r.type === "outbound-rtp" || r.type === "inbound-rtp") && r.kind === "video") {
      const c = r.codecId && stats.get(r.codecId);
      out.push([r.type, c ? c.mimeType : "?", r.scalabilityMode || "-", r.frameWidth || 0].join(" "));
    }
  });
  return out.sort().join(", ");
})()`

// The broadcast page with svc=1 publishes one VP9 stream with three spatial layers (L3T3_KEY);
// the watch page's quality menu makes the SFU forward fewer layers (the decoded width drops to
// the base layer's) and all of them again.
func TestVP9SVCBroadcastAndQualityMenu(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	tok, err := srv.Signer().Issue("svc", []auth.Grant{auth.GrantPublish}, time.Hour, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)

	pubTab := tab(t, ctx)
	if err := chromedp.Do(pubTab, chromedp.Navigate(fmt.Sprintf("%s/broadcast/svc?token=%s&autostart=1&svc=1", srv.URL(), tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live")
	if mode, err := chromedp.Run(pubTab, chromedp.Evaluate[string](`window.relaycast.svc`)); err != nil || mode != "L3T3_KEY" {
		dbg, _ := chromedp.Run(pubTab, chromedp.Evaluate[string](`JSON.stringify(RTCRtpSender.getCapabilities("video").codecs.filter(c => c.mimeType === "video/VP9"))`))
		t.Logf("VP9 send capabilities: %s", dbg)
		t.Fatalf("broadcast page svc mode %q, %v: want L3T3_KEY (does this Chromium encode VP9 SVC?)", mode, err)
	}
	// One VP9 stream leaves the browser, in L3T3_KEY, at the capture's full width once the
	// encoder's bandwidth allows the top layer.
	var out string
	deadline := time.Now().Add(40 * time.Second)
	for {
		out, err = chromedp.Run(pubTab, chromedp.Evaluate[string](videoRTP, awaitPromise))
		if err == nil && out == "outbound-rtp video/VP9 L3T3_KEY 1280" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbound video %q, %v: want one VP9 L3T3_KEY stream 1280 px wide", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("outbound: %s", out)
	waitJS(t, pubTab, 10*time.Second, `document.querySelector("#sending").textContent.includes("VP9 L3T3_KEY")`, "the Sending line to name the SVC mode")

	watchTab, pick := watchWithQualityMenu(t, ctx, srv.URL()+"/watch/svc", "SVC")
	choose := func(q string) int {
		t.Helper()
		w := pick(q)
		in, _ := chromedp.Run(watchTab, chromedp.Evaluate[string](videoRTP, awaitPromise))
		t.Logf("quality %s: video %d px wide (%s)", q, w, in)
		if !strings.Contains(in, "inbound-rtp video/VP9") {
			t.Errorf("watch page receives %q: want VP9", in)
		}
		return w
	}

	high := choose("high")
	low := choose("low")
	if low >= high {
		t.Errorf("frame width on low = %d, on high = %d: want it to drop", low, high)
	}
	waitJS(t, watchTab, 10*time.Second, `window.relaycast.framesDecoded() > 0`, "frames on the low layer")
	medium := choose("medium")
	if medium <= low || medium >= high {
		t.Errorf("frame width on medium = %d: want between low (%d) and high (%d)", medium, low, high)
	}
	high2 := choose("high")
	if high2 <= medium {
		t.Errorf("frame width back on high = %d, on medium = %d: want it to rise", high2, medium)
	}
	// Still decoding after the switches (frames keep coming).
	n0, _ := chromedp.Run(watchTab, chromedp.Evaluate[int](`window.relaycast.framesDecoded()`))
	waitJS(t, watchTab, 10*time.Second, fmt.Sprintf(`window.relaycast.framesDecoded() > %d + 30`, n0), "frames after switching back to high")
	t.Logf("layer switches counted by the SFU: %d", srv.SFU().Stats().LayerSwitches)
}
