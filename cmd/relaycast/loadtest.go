package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/loadtest"
)

// runLoadtest implements `relaycast loadtest`. Exit codes: 0 every threshold passed, 1 a threshold
// failed or the run failed, 2 usage error.
func runLoadtest(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	_ = env
	fs := flag.NewFlagSet("relaycast loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p loadtest.Params
	var ramp, maxLoss, minConnected, serverPID, jsonOut, htmlOut string
	var maxFreezes int
	var quiet bool
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&p.Room, "room", "loadtest", "room to publish to and watch")
	fs.StringVar(&p.Token, "token", "", "publish token (relaycast token --room R --publish); also the viewers' token")
	fs.StringVar(&p.ViewerToken, "viewer-token", "", "viewers' token when the server runs with --viewer-auth (default --token)")
	fs.IntVar(&p.Viewers, "viewers", 0, "synthetic (Pion) viewers")
	fs.IntVar(&p.BrowserViewers, "browser-viewers", 0, "headless Chromium viewers on the watch page")
	fs.DurationVar(&p.Duration, "duration", 30*time.Second, "how long to hold every viewer after the ramp")
	fs.StringVar(&ramp, "ramp", "50/s", "viewers joining per second")
	fs.DurationVar(&p.Warmup, "warmup", 0, "publisher warm-up before viewers join (default 2s; 10s for --publisher browser, whose bandwidth estimate starts low)")
	fs.StringVar(&p.Publisher, "publisher", "synthetic", "synthetic (Pion: VP8-shaped noise + Opus), browser (Chromium painting a clock: glass-to-glass), file (Pion streaming --video-file/--audio-file, looped), none (someone else publishes)")
	fs.StringVar(&p.PublisherSource, "publisher-source", "clock", "with --publisher browser: clock (640×360, one layer) or noise (1280×720 noise under the clock strip, three simulcast layers: the encoder fills its target, so the ramp shows what the path carries)")
	fs.StringVar(&p.PublisherQuery, "publisher-query", "", "with --publisher browser: extra broadcast page query, e.g. simulcast=0")
	fs.StringVar(&p.VideoFile, "video-file", "", "with --publisher file: video in IVF, VP8/VP9/AV1 by its fourcc (ffmpeg ... -c:v libvpx out.ivf), or raw H.264 at 30 fps (ffmpeg ... -c:v libx264 -tune zerolatency out.h264); the first-keyframe metric needs VP8")
	fs.StringVar(&p.AudioFile, "audio-file", "", "with --publisher file: Opus audio in Ogg, one packet per page (ffmpeg ... -c:a libopus -page_duration 20000 out.ogg)")
	fs.IntVar(&p.Bitrate, "bitrate", 1_500_000, "synthetic publisher video bits/s")
	fs.StringVar(&p.Signaling, "signaling", "whep", "synthetic viewers join via whep or ws")
	fs.StringVar(&p.ViewerKind, "viewer", "full", "synthetic viewer: full (Pion receives and decrypts every packet) or lean (counts SRTP headers below Pion, decrypts only frame starts until it has what it measures: one box generates far more viewers)")
	fs.BoolVar(&p.Simulcast, "simulcast", false, "synthetic publisher sends three simulcast layers (q, h, f at 1/10, 1/3 and all of --bitrate)")
	fs.StringVar(&p.Quality, "quality", "", "synthetic viewers' simulcast layer: auto, high, medium, low, or a mix like high:60,medium:30,low:10 (default auto)")
	leanGRO := fs.Bool("lean-gro", true, "lean viewers turn on UDP GRO (a server's GSO message is one read); false for A/B")
	fs.IntVar(&p.MaxInFlight, "max-in-flight", 32, "concurrent viewer joins")
	fs.StringVar(&p.ChromiumPath, "chromium", "/usr/bin/chromium", "Chromium executable")
	fs.IntVar(&p.TabsPerBrowser, "tabs-per-browser", 4, "browser viewers per Chromium process")
	fs.StringVar(&serverPID, "server-pid", "", "pid of a local server to cross-check CPU/RSS with /proc; \"auto\" finds the process listening on --url's port")
	fs.StringVar(&jsonOut, "json", "", "write the JSON report to this file")
	fs.StringVar(&htmlOut, "html", "", "write the HTML report to this file")
	fs.BoolVar(&quiet, "quiet", false, "no live progress lines")
	fs.StringVar(&maxLoss, "max-loss", "", "fail above this video loss in the hold window, e.g. 1%")
	fs.DurationVar(&p.Thresholds.MaxG2GP95, "max-g2g-p95", 0, "fail above this browser glass-to-glass p95 (needs --publisher browser)")
	fs.DurationVar(&p.Thresholds.MaxLatencyP99, "max-latency-p99", 0, "fail above this publisher → synthetic viewer latency p99")
	fs.DurationVar(&p.Thresholds.MaxFirstKeyframeP95, "max-first-keyframe-p95", 0, "fail above this synthetic join → first keyframe p95")
	fs.DurationVar(&p.Thresholds.MaxFirstFrameP95, "max-first-frame-p95", 0, "fail above this browser page load → first frame p95")
	fs.DurationVar(&p.Thresholds.MaxJitterBufferP95, "max-jb-p95", 0, "fail above this browser per-frame jitter buffer + processing delay p95")
	fs.Float64Var(&p.Thresholds.MaxServerCPU, "max-cpu", 0, "fail above this mean server CPU (cores) in the hold window")
	fs.StringVar(&minConnected, "min-connected", "100%", "fail when fewer viewers joined")
	fs.IntVar(&maxFreezes, "max-freezes", -1, "fail above this many browser freezes in total (-1: unchecked)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: relaycast loadtest [flags]

Publishes to a room and watches it with many synthetic (Pion) and headless Chromium viewers,
prints live progress, writes JSON/HTML reports and exits 1 when a threshold fails.
For load runs start the server without per-IP caps, e.g.
  relaycast serve --ice-loopback --max-conns 0 --max-conns-per-ip 0 --record=false
All WebRTC traffic of the harness stays on 127.0.0.1 (loopback ICE only).

Example:
  relaycast loadtest --url http://127.0.0.1:8080 --room shop --token $(relaycast token --room shop --publish) \
    --viewers 300 --browser-viewers 4 --publisher browser --duration 1m --ramp 50/s \
    --server-pid auto --json out.json --html out.html --max-loss 1% --max-g2g-p95 300ms

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "relaycast loadtest: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	p.LeanNoGRO = !*leanGRO
	var err error
	if p.Ramp, err = loadtest.ParseRamp(ramp); err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: --ramp: %v\n", err)
		return exitUsage
	}
	if maxLoss != "" {
		if p.Thresholds.MaxLossPct, err = loadtest.ParsePercent(maxLoss); err != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: --max-loss: %v\n", err)
			return exitUsage
		}
	}
	if p.Thresholds.MinConnectedPct, err = loadtest.ParsePercent(minConnected); err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: --min-connected: %v\n", err)
		return exitUsage
	}
	if maxFreezes >= 0 {
		p.Thresholds.MaxFreezes, p.Thresholds.CheckFreezes = maxFreezes, true
	}
	switch serverPID {
	case "":
	case "auto":
		pid, err := loadtest.FindServerPID(p.URL)
		if err != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: --server-pid auto: %v (continuing without /proc)\n", err)
		}
		p.ServerPID = pid
	default:
		if _, err := fmt.Sscan(serverPID, &p.ServerPID); err != nil || p.ServerPID <= 0 {
			fmt.Fprintf(stderr, "relaycast loadtest: --server-pid: want a pid or auto, got %q\n", serverPID)
			return exitUsage
		}
	}
	if err := p.Validate(); err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: %v\n", err)
		return exitUsage
	}
	if !quiet {
		p.Progress = stderr
	}
	p.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("app", "relaycast")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.Run(ctx, p)
	if rep == nil {
		fmt.Fprintf(stderr, "relaycast loadtest: %v\n", err)
		if errors.Is(err, loadtest.ErrBadParams) {
			return exitUsage
		}
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: stopped early: %v\n", err)
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{jsonOut, rep.WriteJSON}, {htmlOut, rep.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if werr := writeFile(out.path, out.write); werr != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: %v\n", werr)
			return exitFailure
		}
	}
	printSummary(stdout, rep)
	if err != nil || !rep.Pass {
		return exitFailure
	}
	return exitOK
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func printSummary(w io.Writer, r *loadtest.Report) {
	s := r.Synthetic
	fmt.Fprintf(w, "synthetic: %d/%d joined (%d failed, %d dropped), loss %.3f%% (%d of %d), join p95 %.0f ms, first keyframe p50/p95 %.0f/%.0f ms, latency p50/p99 %.2f/%.2f ms\n",
		s.Connected, s.Target, s.Failed, s.Disconnected, s.LossPct, s.Lost, s.Packets+s.Lost, s.Join.P95, s.FirstKeyframe.P50, s.FirstKeyframe.P95, s.Latency.P50, s.Latency.P99)
	if b := r.Browser; b != nil {
		fmt.Fprintf(w, "browser: %d/%d playing, g2g p50/p95 %.0f/%.0f ms (%d samples), jb+proc p50/p95 %.1f/%.1f ms, first frame p50/p95 %.0f/%.0f ms, freezes %d, loss %.3f%%\n",
			b.Playing, b.Target, b.G2G.P50, b.G2G.P95, b.G2G.Count, b.JBPlusProc.P50, b.JBPlusProc.P95, b.FirstFrame.P50, b.FirstFrame.P95, b.Freezes, b.LossPct)
	}
	if r.Layers != nil {
		fmt.Fprintf(w, "layers received (by bitrate): %s\n", r.Layers)
	}
	if g := r.Generator; g != nil {
		fmt.Fprintf(w, "generator: gro %v, %d reads (%d coalesced), %.3f datagrams per read\n", g.GRO, g.Reads, g.CoalescedReads, g.SegmentsPerRead)
	}
	v := r.Server
	fmt.Fprintf(w, "server (hold %.0fs): cpu %.3f cores (/proc %.3f), max %.2f, rss %.0f MB, forwarded %.1f Mb/s, %.0f packets sent, %.0f dropped, %.0f viewers/core\n",
		r.HoldSeconds, v.CPUCoresMean, v.ProcCPUCoresMean, v.CPUCoresMax, v.RSSMaxBytes/1e6, v.ForwardedMbps, v.PacketsSent, v.PacketsDropped, v.ViewersPerCore)
	for _, c := range r.Checks {
		fmt.Fprintln(w, c.String())
	}
	if r.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}
