package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
)

// TestVP9SVCRecording: Chromium publishes VP9 L3T3_KEY (svc=1); the recording's chunks hold the
// whole stream as VP9 superframes, so ffmpeg decodes every picture at the top layer's size
// (1280 px) without an error — the first picture of every chunk included (the recorder starts a
// chunk only on a keyframe picture whose layer frames are whole) — and the recording becomes ready
// with an HLS ladder from it.
func TestVP9SVCRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	var cfg config.Config
	srv := testserver.Start(t, func(c *config.Config) { c.ChunkDuration = 4 * time.Second; cfg = *c })
	if code, err := httpGet(srv.URL() + "/watch/x"); err != nil || code != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("watch page not served (status %d, %v): is the web UI built?", code, err)
		}
		t.Skipf("web UI not built (status %d): run make web", code)
	}
	tok, err := srv.Signer().Issue("svcrec", []auth.Grant{auth.GrantPublish}, time.Hour, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	pub := tab(t, ctx)
	if err := chromedp.Do(pub, chromedp.Navigate(fmt.Sprintf("%s/broadcast/svcrec?token=%s&autostart=1&svc=1", srv.URL(), tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pub, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live")
	if mode, err := chromedp.Run(pub, chromedp.Evaluate[string](`window.relaycast.svc`)); err != nil || mode != "L3T3_KEY" {
		t.Fatalf("broadcast page svc mode %q, %v: want L3T3_KEY (does this Chromium encode VP9 SVC?)", mode, err)
	}
	// Broadcast until the encoder sends its top layer, then some seconds more.
	var out string
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err = chromedp.Run(pub, chromedp.Evaluate[string](videoRTP, awaitPromise))
		if err == nil && out == "outbound-rtp video/VP9 L3T3_KEY 1280" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbound video %q, %v: want one VP9 L3T3_KEY stream 1280 px wide", out, err)
		}
	}
	top := time.Now()
	time.Sleep(6 * time.Second) // the recording needs pictures at the top layer's size
	if _, err := chromedp.Run(pub, chromedp.Evaluate[bool](`(document.querySelector("#stop").click(), true)`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pub, 10*time.Second, `window.relaycast.state !== "live"`, "the broadcast to stop")
	broadcast := time.Since(top)
	rec := waitRecording(t, srv, "svcrec", catalog.StatusReady, 180*time.Second)
	t.Logf("recording %s ready: %.1f s, renditions %v", rec.ID, rec.Duration, rec.Renditions)

	dir := filepath.Join(cfg.RecordingsDir(), rec.ID)
	var m recorder.Manifest
	if b, err := os.ReadFile(filepath.Join(dir, "recording.json")); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Width != 1280 || m.Height != 720 {
		t.Errorf("manifest source size %dx%d, want 1280x720 (the top spatial layer)", m.Width, m.Height)
	}
	var c0 recorder.ChunkInfo
	if b, err := os.ReadFile(filepath.Join(dir, "c000000", "chunk.json")); err == nil && json.Unmarshal(b, &c0) == nil {
		t.Logf("the first keyframe picture was recorded %.2f s after the first packet", c0.Start)
	}
	chunks, _ := filepath.Glob(filepath.Join(dir, "c*", "video.ivf"))
	if len(chunks) == 0 {
		t.Fatal("no video chunks")
	}
	top1280, frames := 0, 0
	for _, c := range chunks {
		// Every picture decodes: ffmpeg says nothing at -v error. (The frames keep their own
		// timestamps: rounded to 1/30 s, two frames of a jittery camera could share one and the
		// null muxer would say so.)
		msg, err := exec.Command("ffmpeg", "-v", "error", "-i", c, "-map", "0:v", "-vsync", "passthrough", "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(msg))) > 0 {
			t.Errorf("%s: decoding: %v: %s", c, err, msg)
		}
		// One shown frame per picture (the lower layers are hidden): no timestamp twice.
		b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "frame=pts,width,height", "-of", "csv=p=0", c).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", c, err)
		}
		seen := map[string]bool{}
		sizes := map[string]int{}
		for _, l := range strings.Fields(string(b)) {
			f := strings.Split(l, ",") // pts,width,height
			if len(f) != 3 {
				t.Fatalf("ffprobe line %q", l)
			}
			if seen[f[0]] {
				t.Errorf("%s: two frames shown at pts %s", c, f[0])
			}
			seen[f[0]] = true
			sizes[f[1]+"x"+f[2]]++
		}
		frames += len(seen)
		top1280 += sizes["1280x720"]
		t.Logf("%s: frames by size %v", filepath.Base(filepath.Dir(c)), sizes)
	}
	// The encoder sent its top layer for the last 6 s (30 fps with Chromium's fake camera).
	if top1280 < 60 {
		t.Errorf("%d frames decode at 1280x720 (of %d): want most of the %.1f s with the top layer", top1280, frames, broadcast.Seconds())
	}
	if rec.Duration < broadcast.Seconds()-1 {
		t.Errorf("recording %.1f s, the top layer alone was broadcast %.1f s", rec.Duration, broadcast.Seconds())
	}
	// The ladder is made from the top layer's size.
	if len(rec.Renditions) == 0 || rec.Renditions[0] != "720p" {
		t.Fatalf("renditions %v, want 720p first", rec.Renditions)
	}
	rep, err := testmedia.Probe(strings.TrimSuffix(srv.URL()+rec.HLSURL, "master.m3u8") + "720p/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("720p rendition: %+v", rep)
	if !rep.Video || rep.Width != 1280 || rep.Height != 720 || rep.Duration < rec.Duration-1 {
		t.Errorf("720p rendition %+v: want 1280x720 video of %.1f s", rep, rec.Duration)
	}
}
