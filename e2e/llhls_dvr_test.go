package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
)

// TestLLHLSDVR: rewind while live past the live window, into the show's recording. A recorded
// room with a 10 s live window (--live-hls-window's minimum) and 2 s recording chunks (so the
// recording's progressive EVENT playlist has parts within seconds); a real publisher (WHIP,
// H.264) for longer than the window; the watch page with ?mode=hls in Chromium (hls.js):
//   - the timeline spans the whole show (from the recording's start), not just the window;
//   - dragging it 18 s back (older than the window; further when the transcoder lags more) switches the page's player onto the
//     recording's playlist (the page fetched it; the player says "archive"), which plays
//     (currentTime and frames advance) at the asked moment: its media time is the asked server
//     time minus the recording's started_at, and the picture is ~18 s behind live;
//   - the lot shows the live auction, and says so (far behind live, events are not held);
//   - dragging forward into the window goes back onto the live playlist, rewound;
//   - "Back to live" plays at the live edge again (the "Delayed mode" badge);
//   - the keyboard: Home on the timeline plays the recording from its start, End goes live;
//   - a WebRTC viewer (no ?mode=hls) drags into the recording (HLS over the WebRTC video) and
//     "Back to live" returns to the WebRTC video.
func TestLLHLSDVR(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium, ffmpeg and the transcoder")
	}
	const window = 10 * time.Second
	srv := startServerWith(t, func(c *config.Config) {
		c.LiveHLSWindow = window
		c.ChunkDuration = 2 * time.Second
	})
	const room = "llhls-dvr"
	llhlsPublish(t, srv, room)
	waitLivePlaylist(t, srv.URL(), room, 30*time.Second)
	firstPDT := livePlaylistStart(t, srv.URL(), room)

	// The recording in progress, once its first chunk is transcoded (its playlist exists).
	var rec catalog.Recording
	deadline := time.Now().Add(40 * time.Second)
	for rec.HLSURL == "" {
		if time.Now().After(deadline) {
			t.Fatal("no progressive playlist of the live recording within 40 s")
		}
		time.Sleep(300 * time.Millisecond)
		for _, r := range recordings(t, srv) {
			if r.Room == room && r.Status == catalog.StatusRecording {
				rec = r
			}
		}
	}
	t.Logf("recording %s started %s, playlist %s", rec.ID, rec.StartedAt.Format(time.RFC3339Nano), rec.HLSURL)
	// The page maps the recording's media time to the server clock by its started_at, the live
	// playlist's by EXT-X-PROGRAM-DATE-TIME: the two must agree on where the show starts.
	d := firstPDT.Sub(rec.StartedAt)
	t.Logf("the live playlist's first EXT-X-PROGRAM-DATE-TIME is %s after the recording's start", d.Round(time.Millisecond))
	if d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("the live playlist starts %s from the recording's started_at: the two timelines disagree", d)
	}

	bidder, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantSubscribe, auth.GrantBid, auth.GrantChat}, time.Hour, "bidder-dvr")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	page := tab(t, ctx)
	navigate(t, page, srv.URL()+"/watch/"+room+"?mode=hls&token="+url.QueryEscape(bidder))
	waitJS(t, page, 30*time.Second, `window.relaycast.hls.playing && window.relaycast.hls.frames() > 15`, "the HLS video to play")
	t.Cleanup(func() { t.Logf("frozen pictures restarted: %d", hlsNow(t, page).Stalls) })

	// The show is older than the window, and the page knows the recording.
	back := 18
	waitJS(t, page, 45*time.Second, fmt.Sprintf(`window.relaycast.hls.archiveUrl !== "" && window.relaycast.hls.showSeconds >= %d && window.relaycast.hls.windowSeconds > 0`, back+8), "a show longer than the window, with its recording")
	span := evalJS[map[string]float64](t, page, `(() => { const r = document.getElementById("dvr-range"); return { min: Number(r.min), show: window.relaycast.hls.showSeconds, window: window.relaycast.hls.windowSeconds }; })()`)
	t.Logf("timeline: min %.0f s (the show: %.0f s; the live window: %.1f s)", span["min"], span["show"], span["window"])
	if span["min"] > -float64(back+6) || span["window"] > window.Seconds()+3 {
		t.Fatalf("the timeline spans %.0f s with a %.1f s window: want the whole show (> %d s), the window ≤ %s", -span["min"], span["window"], back+6, window)
	}

	// How far back to go: 18 s, or further when the transcoder lags more (a loaded machine),
	// so that the recording has the moment asked for (else the page rightly moves on to the
	// live window, see archiveForward).
	back = dvrBack(t, srv.URL(), rec, back)

	t.Run("rewind into the recording", func(t *testing.T) {
		// Drag the timeline to −0:18 (the range input's own events, as a finger or mouse does).
		asked := evalJS[float64](t, page, fmt.Sprintf(`(() => { const r = document.getElementById("dvr-range");
		  r.dispatchEvent(new PointerEvent("pointerdown")); r.value = "-%d"; r.dispatchEvent(new Event("input"));
		  r.dispatchEvent(new Event("change")); return Date.now() + window.relaycast.live.offset - %d; })()`, back, back*1000))
		waitJS(t, page, 20*time.Second, `window.relaycast.hls.source === "archive" && window.relaycast.hls.playing && window.relaycast.hls.rewound`, "the recording playing")
		// The player's source is the recording's playlist: the page loaded it (and its parts).
		loaded := evalJS[[]string](t, page, `performance.getEntriesByType("resource").map(e => e.name).filter(n => n.includes("/rec/"))`)
		wantPath := rec.HLSURL
		if u, err := url.Parse(rec.HLSURL); err == nil {
			wantPath = u.Path
		}
		var gotPlaylist, gotMedia bool
		for _, n := range loaded {
			gotPlaylist = gotPlaylist || strings.Contains(n, wantPath)
			gotMedia = gotMedia || !strings.HasSuffix(n, ".m3u8")
		}
		if !gotPlaylist || !gotMedia || evalJS[string](t, page, `window.relaycast.hls.archiveUrl`) != rec.HLSURL {
			t.Fatalf("the page's player did not load the recording's playlist %s and its media: %v", rec.HLSURL, loaded)
		}
		_, f := hlsAdvances(t, page, 3*time.Second)
		// Where the picture is: its media time against the recording's start (the catalog's).
		// Server seconds since the drag: the most the picture can have played since (loading counts).
		elapsed := (f.ServerNow - (asked + float64(back*1000))) / 1000
		askedAt := (asked - float64(rec.StartedAt.UnixMilli())) / 1000
		behindS := (f.ServerNow - f.PlayingDate) / 1000
		t.Logf("rewound into the recording: media time %.1f s (the asked moment %.1f s, %.1f s ago), the picture %.1f s behind live (asked %d s); badge %q",
			f.CurrentTime, askedAt, elapsed, behindS, back, f.Badge)
		if f.CurrentTime < askedAt-2 || f.CurrentTime > askedAt+elapsed+2 {
			t.Fatalf("the recording plays at %.1f s, want from ~%.1f s (the asked moment) to %.1f s", f.CurrentTime, askedAt, askedAt+elapsed)
		}
		if behindS < float64(back-3) || behindS > float64(back+8) {
			t.Fatalf("the picture is %.1f s behind live, asked %d s", behindS, back)
		}
		if !strings.Contains(f.Badge, "Rewound") || !strings.Contains(f.Badge, "recording") {
			t.Fatalf("badge %q while playing the recording", f.Badge)
		}
		if v := evalJS[string](t, page, `document.getElementById("dvr-range").getAttribute("aria-valuetext")`); !strings.Contains(v, "behind live") {
			t.Fatalf("the timeline's aria-valuetext %q", v)
		}
		if l := evalJS[string](t, page, `document.getElementById("to-live").textContent`); l != "Back to live" {
			t.Fatalf("live button says %q while rewound", l)
		}
	})

	t.Run("the live auction far behind live", func(t *testing.T) {
		seller, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room)
		if err != nil {
			t.Fatal(err)
		}
		var lot struct {
			ID string `json:"id"`
		}
		if code, err := call("POST", srv.URL()+"/api/rooms/"+room+"/lots", seller, `{"title":"Teapot","start_price":1000,"duration_s":120}`, &lot); err != nil || code != 201 {
			t.Fatalf("create lot: %d %v", code, err)
		}
		if code, err := call("POST", srv.URL()+"/api/rooms/"+room+"/lots/"+lot.ID+"/start", seller, "", nil); err != nil || code != 200 {
			t.Fatalf("start lot: %d %v", code, err)
		}
		// ~18 s behind live (beyond HOLD_MAX_MS): the open lot shows at once, not when the
		// recording reaches it, and the note says the lot is the live auction.
		waitJS(t, page, 5*time.Second, `!!document.querySelector(".lot .btn-bid") && document.querySelector(".lot").dataset.status === "open"`, "the open lot right away")
		waitJS(t, page, 5*time.Second, `(() => { const n = document.getElementById("behind-live"); return !!n && !n.hidden && /the lot shows the live auction/.test(n.textContent); })()`, "the note: the lot shows the live auction")
		if h := evalJS[int](t, page, `window.relaycast.hls.held`); h != 0 {
			t.Fatalf("%d events held for the picture while far behind live", h)
		}
		if os.Getenv("RELAYCAST_SCREENSHOTS") != "" {
			phoneShot(t, page, "watch-dvr-recording-390.png")
		}
	})

	t.Run("forward into the window, then back to live", func(t *testing.T) {
		if _, err := chromedp.Run(page, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("dvr-range");
		  r.dispatchEvent(new PointerEvent("pointerdown")); r.value = "-5"; r.dispatchEvent(new Event("input"));
		  r.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, page, 20*time.Second, `window.relaycast.hls.source === "live" && window.relaycast.hls.rewound && window.relaycast.hls.playing && window.relaycast.hls.behindEdge > 2`, "the live playlist, rewound inside its window")
		time.Sleep(time.Second) // the badge follows the picture a few times a second
		f := hlsNow(t, page)
		t.Logf("inside the window: %.1f s behind the live edge, the picture %.1f s behind live; badge %q", f.BehindEdge, (f.ServerNow-f.PlayingDate)/1000, f.Badge)
		if !strings.Contains(f.Badge, "Rewound") || strings.Contains(f.Badge, "recording") {
			t.Fatalf("badge %q rewound on the live playlist", f.Badge)
		}
		if err := chromedp.Do(page, chromedp.Click(chromedp.CSS("#to-live"))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, page, 15*time.Second, `window.relaycast.hls.source === "live" && !window.relaycast.hls.rewound && window.relaycast.hls.behindEdge < 3 && window.relaycast.hls.playing`, "the live edge again")
		time.Sleep(time.Second)
		lv := hlsNow(t, page)
		t.Logf("back to live: %.0f ms behind live (server clock), badge %q", lv.BehindMs, lv.Badge)
		if lv.BehindMs > 8000 || !strings.Contains(lv.Badge, "Delayed mode") {
			t.Fatalf("after Back to live: %.0f ms behind, badge %q", lv.BehindMs, lv.Badge)
		}
		if l := evalJS[string](t, page, `document.getElementById("to-live").textContent`); l != "LIVE" {
			t.Fatalf("live button says %q at the edge", l)
		}
	})

	t.Run("keyboard: Home to the show's start, End to live", func(t *testing.T) {
		focus(t, page, "#dvr-range")
		press(t, page, kb.Home)
		waitJS(t, page, 20*time.Second, `window.relaycast.hls.source === "archive" && window.relaycast.hls.playing && window.relaycast.hls.currentTime < 8`, "the recording from its start")
		f := hlsNow(t, page)
		t.Logf("Home: the recording at %.1f s, %.1f s behind live", f.CurrentTime, (f.ServerNow-f.PlayingDate)/1000)
		press(t, page, kb.End)
		waitJS(t, page, 15*time.Second, `window.relaycast.hls.source === "live" && !window.relaycast.hls.rewound && window.relaycast.hls.playing`, "live again after End")
	})

	t.Run("a WebRTC viewer rewinds into the recording and back to WebRTC", func(t *testing.T) {
		back := dvrBack(t, srv.URL(), rec, 18)
		rtc := tab(t, ctx)
		navigate(t, rtc, srv.URL()+"/watch/"+room+"?token="+url.QueryEscape(bidder))
		waitJS(t, rtc, 30*time.Second, `window.relaycast.state === "playing" && window.relaycast.hls.shown === "webrtc"`, "the WebRTC video")
		waitJS(t, rtc, 10*time.Second, `window.relaycast.hls.archiveUrl !== "" && Number(document.getElementById("dvr-range").min) < -20`, "the timeline over the show")
		if _, err := chromedp.Run(rtc, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("dvr-range");
		  r.dispatchEvent(new PointerEvent("pointerdown")); r.value = "-`+fmt.Sprint(back)+`"; r.dispatchEvent(new Event("input"));
		  r.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, rtc, 20*time.Second, `window.relaycast.hls.shown === "hls" && window.relaycast.hls.source === "archive" && window.relaycast.hls.playing`, "the recording over the WebRTC video")
		if _, _, err := hlsAdvance(t, rtc, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(rtc, chromedp.Click(chromedp.CSS("#to-live"))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, rtc, 15*time.Second, `window.relaycast.hls.shown === "webrtc" && window.relaycast.hls.source === "" && window.relaycast.state === "playing"`, "the WebRTC video again")
	})
}

// phoneShot saves a 390×844 screenshot of the page (the viewport, as a phone shows it) as name
// in screenshotDir(t); failing to save is logged.
func phoneShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Sleep(500*time.Millisecond))
	if err == nil {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	_ = chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(screenshotDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	t.Logf("screenshot %s (%d KiB)", path, len(png)/1024)
}

// livePlaylistStart returns the EXT-X-PROGRAM-DATE-TIME of the live media playlist's first
// segment (the multivariant playlist's first variant). Called as soon as the playlist exists,
// well within the first window (10 s), so its first segment is the show's first.
func livePlaylistStart(t *testing.T, base, room string) time.Time {
	t.Helper()
	get := func(u string) string {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return string(b)
	}
	master := get(base + "/live/" + room + "/index.m3u8")
	variant := ""
	for _, line := range strings.Split(master, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			variant = line
			break
		}
	}
	if variant == "" {
		t.Fatalf("no variant in the live playlist:\n%.500s", master)
	}
	text := get(base + "/live/" + room + "/" + variant)
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"); ok {
			at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("EXT-X-PROGRAM-DATE-TIME %q: %v", v, err)
			}
			return at
		}
	}
	t.Fatalf("no EXT-X-PROGRAM-DATE-TIME in the live media playlist:\n%.500s", text)
	return time.Time{}
}

// dvrBack returns how many seconds behind live to rewind so that the moment is in the
// recording's progressive playlist: want, or the recording's lag behind live + 5 s when more
// (waiting up to 30 s for the show to be long enough for it).
func dvrBack(t *testing.T, base string, rec catalog.Recording, want int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		age := time.Since(rec.StartedAt).Seconds()
		lag := age - archiveSeconds(t, base, rec.HLSURL)
		back := max(want, int(lag)+5)
		if float64(back) < age-2 {
			t.Logf("the recording lags %.1f s behind live (the show is %.0f s old): rewinding %d s", lag, age, back)
			return back
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording lags %.1f s behind live in a %.0f s show", lag, age)
		}
		time.Sleep(time.Second)
	}
}

// archiveSeconds sums the EXTINF durations of the recording's progressive playlist (its first
// variant).
func archiveSeconds(t *testing.T, base, hlsURL string) float64 {
	t.Helper()
	u, err := url.Parse(hlsURL)
	if err != nil {
		t.Fatal(err)
	}
	abs := u
	if !u.IsAbs() {
		if abs, err = url.Parse(base + u.Path); err != nil {
			t.Fatal(err)
		}
	}
	get := func(u string) string {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return string(b)
	}
	text := get(abs.String())
	if strings.Contains(text, "#EXT-X-STREAM-INF") {
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				ref, err := url.Parse(line)
				if err != nil {
					t.Fatal(err)
				}
				text = get(abs.ResolveReference(ref).String())
				break
			}
		}
	}
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXTINF:"); ok {
			var d float64
			if _, err := fmt.Sscanf(strings.TrimSuffix(strings.SplitN(v, ",", 2)[0], ","), "%g", &d); err == nil {
				sum += d
			}
		}
	}
	return sum
}
