package loadtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
	"github.com/relaycast/relaycast/server"
)

func startServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	srv := testserver.Start(t, nil)
	return srv, testserver.Token(t, srv, "lt", auth.GrantPublish)
}

// chromiumProcs counts Chromium processes started by chromedp (temporary profiles).
func chromiumProcs(t *testing.T) int {
	t.Helper()
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "chromedp-runner") {
			n++
		}
	}
	return n
}

func TestRunInProcess(t *testing.T) {
	tests := []struct {
		name      string
		browser   bool
		file      string // video codec of the file publisher
		signaling string
		lean      bool
		source    string // browser publisher's canvas
	}{
		{"synthetic whep", false, "", loadtest.SignalingWHEP, false, ""},
		{"lean synthetic whep", false, "", loadtest.SignalingWHEP, true, ""},
		{"synthetic ws", false, "", loadtest.SignalingWS, false, ""},
		{"file publisher", false, testmedia.CodecVP8, loadtest.SignalingWHEP, false, ""},
		{"file publisher h264", false, testmedia.CodecH264, loadtest.SignalingWHEP, false, ""},
		{"browser publisher and viewers", true, "", loadtest.SignalingWHEP, false, loadtest.SourceClock},
		{"browser noise publisher (simulcast)", true, "", loadtest.SignalingWHEP, false, loadtest.SourceNoise},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.browser {
				if testing.Short() {
					t.Skip("headless Chromium: skipped with -short")
				}
				if _, err := os.Stat("/usr/bin/chromium"); err != nil {
					t.Skip("no /usr/bin/chromium")
				}
			}
			srv, tok := startServer(t)
			p := loadtest.Params{
				URL: srv.URL(), Room: "lt", Token: tok, Viewers: 4, Duration: 3 * time.Second, Ramp: 20,
				Warmup: time.Second, Signaling: tt.signaling, ServerPID: os.Getpid(),
				Thresholds: loadtest.Thresholds{MaxLossPct: 5, MaxFirstKeyframeP95: 3 * time.Second},
			}
			if tt.lean {
				p.ViewerKind = loadtest.ViewerLean
			}
			if tt.browser {
				p.Publisher, p.BrowserViewers, p.Warmup, p.Duration = loadtest.PublisherBrowser, 1, 3*time.Second, 4*time.Second
				p.PublisherSource = tt.source
				// These runs check the harness on a shared test box, not the box's capacity: the
				// first frame waits for a Chromium start (limit raised from the default 5 s).
				p.Thresholds.MaxFirstFrameP95 = 15 * time.Second
				p.Thresholds.MaxG2GP95 = 2 * time.Second
				if tt.source == loadtest.SourceNoise {
					// Noise keyframes are large enough that a viewer's PLI can stall the publisher
					// for a second or two: glass-to-glass, smoothness and freezes are checked on
					// the clock only (the noise run is about the publisher ramp).
					p.Thresholds.MaxG2GP95, p.Thresholds.MaxJitterBufferP95, p.Thresholds.MaxFreezes = -1, -1, -1
				}
			}
			if tt.file != "" {
				if _, err := exec.LookPath("ffmpeg"); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatal("ffmpeg missing (scripts/test.sh installs it)")
					}
					t.Skip("no ffmpeg")
				}
				video, audio, err := testmedia.Generate(testmedia.Params{Dir: t.TempDir(), Duration: 3 * time.Second, Codec: tt.file})
				if err != nil {
					t.Fatal(err)
				}
				if tt.file == testmedia.CodecH264 {
					// The raw stream an encoder writes; the viewers' first-keyframe probe reads VP8 only.
					video, p.Thresholds.MaxFirstKeyframeP95 = testmedia.AnnexB(video), 0
				}
				p.Publisher, p.VideoFile, p.AudioFile = loadtest.PublisherFile, video, audio
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			rep, err := loadtest.Run(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range rep.Checks {
				t.Log(c)
			}
			if !rep.Pass {
				t.Errorf("run failed its thresholds: %+v\nnotes %v errors %v", rep.Checks, rep.Notes, rep.Synthetic.FirstErrors)
			}
			// The two counts close the hold window a few ms apart, and the server counts a writer
			// group's batch (up to 32 packets to each viewer, e.g. an H.264 keyframe) once it is
			// written: allow 2 % plus one such batch per viewer.
			if slack := 0.02*float64(rep.Synthetic.Packets) + 32*float64(p.Viewers); rep.Synthetic.Packets == 0 || rep.Server.PacketsSent < float64(rep.Synthetic.Packets)-slack {
				t.Errorf("server sent %v packets in the hold window, viewers got %d", rep.Server.PacketsSent, rep.Synthetic.Packets)
			}
			if rep.Server.CPUCoresMean <= 0 || rep.Server.ProcCPUCoresMean <= 0 {
				t.Errorf("server CPU not measured: %+v", rep.Server)
			}
			if !tt.browser && tt.file == "" && rep.Synthetic.Latency.Count == 0 {
				t.Error("no publisher → viewer latency samples")
			}
			if len(rep.Samples) < 3 {
				t.Errorf("%d samples", len(rep.Samples))
			}
			if tt.browser {
				b := rep.Browser
				if b == nil || b.Playing != 1 || b.FirstFrame.Count != 1 || b.Viewers[0].FramesDecoded == 0 {
					t.Fatalf("browser summary = %+v", b)
				}
				t.Logf("g2g p50 %.0f ms, first frame %.0f ms, jb %.1f ms", b.G2G.P50, b.FirstFrame.P50, b.JitterBuffer.P50)
				// The publisher ramp: sampled from live to the end, its encodings as the page sends them.
				rp := rep.Ramp
				wantLayers := map[string]int{loadtest.SourceClock: 1, loadtest.SourceNoise: 3}[tt.source]
				if rp == nil || rp.Source != tt.source || len(rp.Samples) < 10 || len(rp.Layers) != wantLayers ||
					rp.MaxBWEBps <= 0 || rp.MaxSentBps <= 0 || rp.Samples[len(rp.Samples)-1].T < 5 {
					t.Fatalf("publisher ramp: %+v", rp)
				}
				t.Logf("ramp: layers %q, estimate max %.2f Mb/s, sent max %.2f Mb/s, time to 1.5 Mb/s: estimate %v sent %v",
					rp.Layers, rp.MaxBWEBps/1e6, rp.MaxSentBps/1e6, fmtSec(rp.TimeToBWES), fmtSec(rp.TimeToSentS))
				deadline := time.Now().Add(5 * time.Second)
				for chromiumProcs(t) > 0 && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if n := chromiumProcs(t); n > 0 {
					t.Errorf("%d Chromium processes left behind", n)
				}
			}
		})
	}
}

func fmtSec(p *float64) string {
	if p == nil {
		return "never"
	}
	return fmt.Sprintf("%.1f s", *p)
}
