package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// TestLLHLSWatch: a real publisher (WHIP, H.264) → the server's /live/{room}/ LL-HLS → the watch
// page in Chromium with ?mode=hls (hls.js, low-latency mode):
//   - it plays live (currentTime and presented frames advance, the "Delayed mode" badge shows),
//     and the latency to the live edge is reported;
//   - the timeline rewinds 20 s (the picture's server time moves back ~20 s) and "Back to live"
//     returns to the edge;
//   - the auction by media time: a lot sold while the viewer is ~2 s behind shows its winner
//     banner only once the video reaches the moment it was sold (the event's server time), and
//     the bid button says how far behind live the viewer is (a bid from it still goes to the
//     server, which takes it).
func TestLLHLSWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and ffmpeg")
	}
	srv := startServer(t)
	const room = "llhls-watch"
	llhlsPublish(t, srv, room)
	waitLivePlaylist(t, srv.URL(), room, 30*time.Second)

	bidder, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantSubscribe, auth.GrantBid, auth.GrantChat}, time.Hour, "bidder-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	page := tab(t, ctx)
	start := time.Now()
	navigate(t, page, srv.URL()+"/watch/"+room+"?mode=hls&token="+url.QueryEscape(bidder))
	waitJS(t, page, 30*time.Second, `window.relaycast.hls.playing && window.relaycast.hls.frames() > 15`, "the HLS video to play")
	t.Logf("?mode=hls: page load → HLS playing in %s", time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() { t.Logf("frozen pictures restarted: %d", hlsNow(t, page).Stalls) })

	t.Run("plays live", func(t *testing.T) {
		f := hlsPlaysSteadily(t, page, 3*time.Second, 4)
		if f.Shown != "hls" || f.Reason != "forced" {
			t.Fatalf("shown %q reason %q, want hls/forced", f.Shown, f.Reason)
		}
		if !f.BadgeShown || !strings.Contains(f.Badge, "Delayed mode") {
			t.Fatalf("badge %q shown=%v, want a visible \"Delayed mode\" badge", f.Badge, f.BadgeShown)
		}
		w, err := chromedp.Run(page, chromedp.Evaluate[int](`document.getElementById("hls-video").videoWidth`))
		if err != nil || w == 0 {
			t.Fatalf("HLS video width %d (%v): no picture", w, err)
		}
		if f.PlayingDate == 0 {
			t.Fatal("no playingDate: the playlist carries no EXT-X-PROGRAM-DATE-TIME")
		}
		// The reported figures, 5 samples a second apart.
		var behind, edge []float64
		for i := 0; i < 5; i++ {
			g := hlsNow(t, page)
			behind = append(behind, g.BehindMs)
			edge = append(edge, g.Latency)
			time.Sleep(time.Second)
		}
		t.Logf("latency: behind live by the server clock (now - EXT-X-PROGRAM-DATE-TIME of the picture) %v ms; hls.js latency to the live edge %v s; video %d px wide",
			behind, edge, w)
		for _, b := range behind {
			if b <= 0 || b > 10_000 {
				t.Fatalf("behind live %v ms: not a live picture", behind)
			}
		}
	})

	t.Run("rewind 20 s and back to live", func(t *testing.T) {
		waitJS(t, page, 60*time.Second, `window.relaycast.hls.windowSeconds >= 26`, "26 s of live window")
		live := hlsNow(t, page)
		// Drag the timeline to −0:20 (the range input's own events, as a finger or mouse does).
		if _, err := chromedp.Run(page, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("dvr-range");
		  r.dispatchEvent(new PointerEvent("pointerdown")); r.value = "-20"; r.dispatchEvent(new Event("input"));
		  r.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, page, 10*time.Second, `window.relaycast.hls.rewound && window.relaycast.hls.behindEdge > 15 && window.relaycast.hls.playing`, "the rewound picture")
		time.Sleep(2 * time.Second)
		_, rw := hlsAdvances(t, page, 2*time.Second)
		behindS := (rw.ServerNow - rw.PlayingDate) / 1000
		t.Logf("rewound: %.1f s behind the live edge, the picture is from %.1f s ago (server clock); badge %q", rw.BehindEdge, behindS, rw.Badge)
		if behindS < 17 || behindS > 30 {
			t.Fatalf("after rewinding 20 s the picture is %.1f s old (live it was %.1f s)", behindS, live.BehindMs/1000)
		}
		if !strings.Contains(rw.Badge, "Rewound") {
			t.Fatalf("badge %q while rewound", rw.Badge)
		}
		label, _ := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("to-live").textContent`))
		if label != "Back to live" {
			t.Fatalf("live button says %q while rewound", label)
		}
		if err := chromedp.Do(page, chromedp.Click(chromedp.CSS("#to-live"))); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		waitJS(t, page, 10*time.Second, `!window.relaycast.hls.rewound && window.relaycast.hls.behindEdge < 3 && window.relaycast.hls.playing`, "the live edge again")
		time.Sleep(time.Second)
		lv := hlsNow(t, page)
		t.Logf("back to live in %s: %.0f ms behind live (server clock), badge %q", time.Since(back).Round(10*time.Millisecond), lv.BehindMs, lv.Badge)
		if lv.BehindMs > 8000 || !strings.Contains(lv.Badge, "Delayed mode") {
			t.Fatalf("after Back to live: %.0f ms behind, badge %q", lv.BehindMs, lv.Badge)
		}
	})

	t.Run("auction by media time", func(t *testing.T) { checkAuctionByMediaTime(t, srv.URL(), srv.Signer(), page, room) })
}

// checkAuctionByMediaTime runs a lot on room while page (an HLS viewer with a bid token) watches:
// the viewer bids (the server takes it), then the winner banner must wait for the picture.
func checkAuctionByMediaTime(t *testing.T, base string, signer *auth.Signer, page context.Context, room string) {
	t.Helper()
	seller, err := signer.Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	var lot struct {
		ID string `json:"id"`
	}
	if code, err := call("POST", base+"/api/rooms/"+room+"/lots", seller, `{"title":"Teapot","start_price":1000,"duration_s":120}`, &lot); err != nil || code != 201 {
		t.Fatalf("create lot: %d %v", code, err)
	}
	if code, err := call("POST", base+"/api/rooms/"+room+"/lots/"+lot.ID+"/start", seller, "", nil); err != nil || code != 200 {
		t.Fatalf("start lot: %d %v", code, err)
	}
	// The HLS viewer sees the open lot once its video reaches the start; its bid button says
	// how far behind live it is; its bid goes to the server, which takes it.
	waitJS(t, page, 15*time.Second, `!!document.querySelector(".lot .btn-bid") && document.querySelector(".lot").dataset.status === "open" && !document.querySelector(".lot-actions").hidden`, "the open lot with its bid button")
	waitJS(t, page, 5*time.Second, `(() => { const n = document.getElementById("behind-live"); return !!n && !n.hidden && /behind live/.test(n.textContent); })()`, "the behind-live note at the bid button")
	note, _ := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("behind-live").textContent`))
	t.Logf("bid button note: %q", note)
	if err := chromedp.Do(page, chromedp.Click(chromedp.CSS(".lot .btn-bid"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, page, 10*time.Second, `window.relaycast.live.lot && window.relaycast.live.lot.bid_count === 1`, "the viewer's bid taken by the server")

	// A banner watcher: when the winner banner appears, the page's clock and the picture's time.
	if _, err := chromedp.Run(page, chromedp.Evaluate[bool](`(() => { window.__banner = null;
	  const b = document.querySelector(".lot-banner");
	  const seen = () => { if (!window.__banner && !b.hidden && b.dataset.status === "sold")
	    window.__banner = { at: Date.now(), media: window.relaycast.hls.playingDate, behind: window.relaycast.hls.behindMs }; };
	  new MutationObserver(seen).observe(b, { attributes: true, childList: true, characterData: true, subtree: true }); seen(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	if code, err := call("POST", base+"/api/rooms/"+room+"/lots/"+lot.ID+"/end", seller, "", nil); err != nil || code != 200 {
		t.Fatalf("end lot: %d %v", code, err)
	}
	waitJS(t, page, 15*time.Second, `!!window.__banner`, "the winner banner")
	var got struct {
		Banner struct {
			At     float64 `json:"at"`
			Media  float64 `json:"media"`
			Behind float64 `json:"behind"`
		} `json:"banner"`
		Events []struct {
			Seq      int     `json:"seq"`
			Kind     string  `json:"kind"`
			At       float64 `json:"at"`
			Status   string  `json:"status"`
			Received float64 `json:"received"`
			Applied  float64 `json:"applied"`
			Media    float64 `json:"media"`
		} `json:"events"`
		Offset float64 `json:"offset"`
	}
	got.Banner.Media = -1
	v, err := chromedp.Run(page, chromedp.Evaluate[string](`JSON.stringify({ banner: window.__banner, events: window.relaycast.hls.events, offset: window.relaycast.live.offset })`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(v), &got); err != nil {
		t.Fatal(err)
	}
	var sold *struct {
		Seq      int     `json:"seq"`
		Kind     string  `json:"kind"`
		At       float64 `json:"at"`
		Status   string  `json:"status"`
		Received float64 `json:"received"`
		Applied  float64 `json:"applied"`
		Media    float64 `json:"media"`
	}
	for i := range got.Events {
		if got.Events[i].Kind == "lot" && got.Events[i].Status == "sold" {
			sold = &got.Events[i]
		}
	}
	if sold == nil {
		t.Fatalf("no sold lot event in %s", v)
	}
	// Server time of each moment (the page's clock + its measured offset).
	recvServer := sold.Received + got.Offset
	bannerServer := got.Banner.At + got.Offset
	t.Logf("lot sold at %.0f (server); event received +%.0f ms, applied +%.0f ms, banner shown +%.0f ms; picture at the banner: %.0f ms after the sale (viewer %.0f ms behind live)",
		sold.At, recvServer-sold.At, sold.Applied+got.Offset-sold.At, bannerServer-sold.At, got.Banner.Media-sold.At, got.Banner.Behind)
	if got.Banner.Media < sold.At {
		t.Fatalf("the winner banner showed while the picture was at %.0f, before the sale at %.0f", got.Banner.Media, sold.At)
	}
	if sold.Applied < sold.Received+300 || got.Banner.At < sold.Received+300 {
		t.Fatalf("the sale was applied %.0f ms / shown %.0f ms after it arrived: not held for the ~2 s delayed picture",
			sold.Applied-sold.Received, got.Banner.At-sold.Received)
	}
	if got.Banner.At-sold.Received > 10_000 {
		t.Fatalf("the banner came %.0f ms after the event", got.Banner.At-sold.Received)
	}
}

// TestLLHLSViewerAuth: with --viewer-auth the live HLS needs a subscribe token; the watch page's
// hls.js sends the page's token as Authorization: Bearer, so ?mode=hls plays with one (and the
// playlist without a token is refused).
func TestLLHLSViewerAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and ffmpeg")
	}
	srv := startServerWith(t, func(c *config.Config) { c.ViewerAuth = true })
	const room = "llhls-auth"
	llhlsPublish(t, srv, room)
	viewer, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantSubscribe}, time.Hour, "viewer-1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", srv.URL()+"/live/"+room+"/index.m3u8", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live playlist with a subscribe token: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, err := httpGet(srv.URL() + "/live/" + room + "/index.m3u8"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("the live playlist without a token: %d %v, want 401", code, err)
	}
	ctx := browser(t)
	page := tab(t, ctx)
	navigate(t, page, srv.URL()+"/watch/"+room+"?mode=hls&token="+url.QueryEscape(viewer))
	waitJS(t, page, 30*time.Second, `window.relaycast.hls.playing && window.relaycast.hls.frames() > 15`, "the HLS video to play with the token")
	hlsPlaysSteadily(t, page, 2*time.Second, 4)
}

// startServerWith is startServer with a changed config.
func startServerWith(t *testing.T, mutate func(*config.Config)) *server.Server {
	t.Helper()
	srv := testserver.Start(t, mutate)
	if code, err := httpGet(srv.URL() + "/watch/x"); err != nil || code != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("watch page not served (status %d, %v): is the web UI built?", code, err)
		}
		t.Skipf("web UI not built (status %d, %v)", code, err)
	}
	return srv
}
