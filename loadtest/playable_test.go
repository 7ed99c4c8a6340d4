package loadtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
)

// TestSyntheticPublisherPlayable: the default synthetic publisher sends real media, so a
// Chromium viewer on the watch page decodes frames and plays, and the server's recording of the
// run becomes a VOD that ffmpeg decodes. (With noise frames the tab never played and the
// recording failed.)
func TestSyntheticPublisherPlayable(t *testing.T) {
	if testing.Short() {
		t.Skip("headless Chromium and a transcode: skipped with -short")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Skip("no /usr/bin/chromium")
	}
	testmedia.NeedFFmpeg(t)
	srv := testserver.Start(t, func(c *config.Config) {
		c.ReconnectGrace = 0 // the recording ends when the run's publisher leaves
		c.ChunkDuration = 2 * time.Second
	})
	tok := testserver.Token(t, srv, "lt", auth.GrantPublish)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Params{
		URL: srv.URL(), Room: "lt", Token: tok, Viewers: 1, BrowserViewers: 1,
		Duration: 4 * time.Second, Ramp: 10, Warmup: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		t.Log(c)
	}
	b := rep.Browser
	if b == nil || len(b.Viewers) != 1 {
		t.Fatalf("browser summary = %+v", b)
	}
	v := b.Viewers[0]
	t.Logf("browser viewer: state %s, %d frames decoded, %dx%d, first frame %.0f ms, %d freezes", v.State, v.FramesDecoded, v.Width, v.Height, v.FirstFrameMs, v.FreezeCount)
	if v.FramesDecoded == 0 || b.Playing != 1 || v.Width == 0 {
		t.Errorf("the browser viewer does not play the synthetic publisher: %+v", v)
	}
	if rep.Synthetic.Latency.Count == 0 {
		t.Error("no publisher → viewer latency samples from the stamped real frames")
	}
	if !rep.Pass {
		t.Errorf("run failed its default thresholds: %+v", rep.Checks)
	}
	// The report says what happened to the recording.
	if rep.Recording == nil || !rep.Recording.Recorded || rep.Recording.ID == "" {
		t.Fatalf("report's recording = %+v, want the server's recording of the run", rep.Recording)
	}
	t.Log("recording:", rep.Recording.Note)

	// The recording becomes a VOD that decodes.
	deadline := time.Now().Add(90 * time.Second)
	var rec struct {
		Status string `json:"status"`
		HLSURL string `json:"hls_url"`
		Error  string `json:"error"`
	}
	for {
		res, err := http.Get(srv.URL() + "/api/recordings/" + rep.Recording.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&rec)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status == "ready" || rec.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if rec.Status != "ready" || rec.HLSURL == "" {
		t.Fatalf("recording %s is %s (error %q), want ready", rep.Recording.ID, rec.Status, rec.Error)
	}
	u := rec.HLSURL
	if !strings.HasPrefix(u, "http") {
		u = srv.URL() + u
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", u, "-f", "null", "-").CombinedOutput()
	var decodeErrs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The null muxer's complaint about timestamps at segment joins is the HLS packaging's
		// business, not decoding: every other line is a decoder error.
		if l != "" && !strings.Contains(l, "non monotonically increasing dts to muxer") {
			decodeErrs = append(decodeErrs, l)
		}
	}
	if err != nil || len(decodeErrs) > 0 {
		t.Fatalf("ffmpeg does not decode the recording: %v\n%s", err, strings.Join(decodeErrs, "\n"))
	}
	pr, err := testmedia.Probe(u)
	if err != nil {
		t.Fatal(err)
	}
	if !pr.Video || !pr.Audio || pr.Duration < 3 || pr.VideoFrames < 60 {
		t.Errorf("recording probe = %+v, want video and audio of the run", pr)
	}
}
