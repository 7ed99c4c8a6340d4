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
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/loadtest"
)

// runLoadtest implements `relaycast loadtest`. Exit codes: 0 every threshold passed, 1 a threshold
// failed or the run failed, 2 usage error.
func runLoadtest(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	_ = env
	fs := flag.NewFlagSet("relaycast loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p loadtest.Params
	var ramp, maxLoss, minConnected, maxFreezes, serverPID, jsonOut, htmlOut string
	var quiet bool
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&p.Room, "room", "loadtest", "room to publish to and watch")
	fs.StringVar(&p.Token, "token", "", "publish token (relaycast token --room R --publish); also the viewers' token")
	fs.StringVar(&p.ViewerToken, "viewer-token", "", "viewers' token when the server runs with --viewer-auth (default --token)")
	fs.IntVar(&p.Viewers, "viewers", 0, "synthetic (Pion) viewers, in all rooms")
	fs.IntVar(&p.Rooms, "rooms", 1, "rooms ROOM-1 … ROOM-N, each with its own synthetic publisher, the viewers spread over them (the token must be valid for every room: relaycast token --room '*' --admin)")
	fs.IntVar(&p.HLSViewers, "hls-viewers", 0, "viewers of the room's live LL-HLS (/live/{room}/index.m3u8) that read it like hls.js in low-latency mode: the hinted part and a blocking delta reload, in a loop")
	fs.IntVar(&p.ViewersPerRoom, "viewers-per-room", 0, "synthetic viewers per room (sets --viewers to rooms × this)")
	fs.IntVar(&p.BrowserViewers, "browser-viewers", 0, "headless Chromium viewers on the watch page")
	fs.StringVar(&p.BrowserViewerMode, "browser-viewer-mode", "webrtc", "how browser viewers watch: webrtc, or hls (the watch page's ?mode=hls: live LL-HLS with hls.js)")
	fs.DurationVar(&p.Duration, "duration", 30*time.Second, "how long to hold every viewer after the ramp")
	fs.StringVar(&ramp, "ramp", "50/s", "viewers joining per second")
	fs.DurationVar(&p.Warmup, "warmup", 0, "publisher warm-up before viewers join (default 2s; 10s for --publisher browser, whose bandwidth estimate starts low)")
	fs.StringVar(&p.Publisher, "publisher", "synthetic", "synthetic (Pion: a 2 s VP8 + Opus loop encoded at start with ffmpeg, real media browsers and recordings decode), browser (Chromium painting a clock: glass-to-glass), file (Pion streaming --video-file/--audio-file, looped), none (someone else publishes)")
	fs.StringVar(&p.PublisherSource, "publisher-source", "clock", "with --publisher browser: clock (640×360, one layer) or noise (1280×720 noise under the clock strip, three simulcast layers: the encoder fills its target, so the ramp shows what the path carries)")
	fs.StringVar(&p.PublisherQuery, "publisher-query", "", "with --publisher browser: extra broadcast page query, e.g. simulcast=0")
	fs.StringVar(&p.VideoFile, "video-file", "", "with --publisher file: video in IVF, VP8/VP9/AV1 by its fourcc (ffmpeg ... -c:v libvpx out.ivf), or raw H.264 at 30 fps (ffmpeg ... -c:v libx264 -tune zerolatency out.h264); the first-keyframe metric needs VP8")
	fs.StringVar(&p.AudioFile, "audio-file", "", "with --publisher file: Opus audio in Ogg, one packet per page (ffmpeg ... -c:a libopus -page_duration 20000 out.ogg)")
	fs.IntVar(&p.Bitrate, "bitrate", 1_500_000, "synthetic publisher video bits/s (the loop is encoded at it; with --simulcast the top layer's)")
	fs.StringVar(&p.Signaling, "signaling", "whep", "synthetic viewers join via whep or ws")
	fs.StringVar(&p.ViewerKind, "viewer", "full", "synthetic viewer: full (Pion receives and decrypts every packet) lean (counts SRTP headers below Pion, decrypts only frame starts until it has what it measures: one box generates far more viewers) or lean-rtcp (lean + RTCP as Chromium sends it: receiver reports, NACKs, REMB/TWCC when negotiated)")
	fs.BoolVar(&p.Simulcast, "simulcast", false, "synthetic publisher sends three simulcast layers (q, h, f at 1/10, 1/3 and all of --bitrate)")
	fs.StringVar(&p.Quality, "quality", "", "synthetic viewers' simulcast layer: auto, high, medium, low, or a mix like high:60,medium:30,low:10 (default auto)")
	fs.StringVar(&p.ViewerKind, "viewer-kind", "full", "the same as --viewer")
	fs.IntVar(&p.LeanDropEvery, "lean-drop-every", 0, "lean-rtcp viewers treat every Nth new video packet as lost and NACK it (0: none)")
	leanGRO := fs.Bool("lean-gro", true, "lean viewers turn on UDP GRO (a server's GSO message is one read); false for A/B")
	fs.IntVar(&p.MaxInFlight, "max-in-flight", 32, "concurrent viewer joins")
	fs.StringVar(&p.ChromiumPath, "chromium", "/usr/bin/chromium", "Chromium executable")
	fs.IntVar(&p.TabsPerBrowser, "tabs-per-browser", 4, "browser viewers per Chromium process")
	fs.StringVar(&serverPID, "server-pid", "", "pid of a local server to cross-check CPU/RSS with /proc; \"auto\" finds the process listening on --url's port")
	fs.StringVar(&jsonOut, "json", "", "write the JSON report to this file")
	fs.StringVar(&htmlOut, "html", "", "write the HTML report to this file")
	fs.BoolVar(&quiet, "quiet", false, "no live progress lines")
	d := loadtest.DefaultThresholds
	fs.StringVar(&maxLoss, "max-loss", fmt.Sprintf("%g%%", d.MaxLossPct), "fail above this video loss in the hold window (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxG2GP95, "max-g2g-p95", d.MaxG2GP95, "fail above this browser glass-to-glass p95 (measured with --publisher browser; 0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxLatencyP99, "max-latency-p99", d.MaxLatencyP99, "fail above this publisher → synthetic viewer latency p99 (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxFirstKeyframeP95, "max-first-keyframe-p95", d.MaxFirstKeyframeP95, "fail above this synthetic join → first keyframe p95 (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxFirstFrameP95, "max-first-frame-p95", d.MaxFirstFrameP95, "fail above this browser page load → first frame p95 (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxJitterBufferP95, "max-jb-p95", d.MaxJitterBufferP95, "fail above this browser per-frame jitter buffer + processing delay p95 (0: unchecked)")
	fs.Float64Var(&p.Thresholds.MaxServerCPU, "max-cpu", 0, "fail above this mean server CPU (cores) in the hold window (0: unchecked)")
	fs.StringVar(&minConnected, "min-connected", fmt.Sprintf("%g%%", d.MinConnectedPct), "fail when fewer synthetic viewers joined or browser viewers play (0: unchecked)")
	fs.StringVar(&maxFreezes, "max-freezes", "", "fail above this many browser freezes in the hold window, all viewers together (default one per browser viewer; off: unchecked)")
	fs.StringVar(&p.FFmpegPath, "ffmpeg", "ffmpeg", "ffmpeg that encodes the synthetic publisher's 2 s VP8 + Opus loop at start")
	// The live room (docs/LIVE-LOAD.md): /ws sockets of the live family, measured during the hold.
	fs.IntVar(&p.Bidders, "bidders", 0, "live: sockets with a bid token (one subject each) bidding on one lot the harness creates and starts")
	fs.IntVar(&p.Chatters, "chatters", 0, "live: sockets with a chat token chatting")
	fs.Float64Var(&p.ChatRate, "chat-rate", 0, "live: chat messages per second, all chatters together (default one per chatter per second; the server allows 3 per 2 s per user)")
	fs.IntVar(&p.LiveViewers, "live-viewers", 0, "live: guest sockets that only join and receive (fan-out latency, lost and duplicate events are measured on them)")
	fs.Float64Var(&p.BidRate, "bid-rate", 0, "live: bids per second, all bidders together (default 1000 with --bidders)")
	fs.DurationVar(&p.LotDuration, "lot-duration", 0, "live: the lot's duration (default --duration + 60s; the harness ends the lot when the hold ends)")
	fs.IntVar(&p.Stalled, "stalled", 3, "live: guest sockets that join and then never read (a slow client: the others must not notice); only with --live-viewers")
	fs.StringVar(&p.SellerToken, "seller-token", "", "live: publish token that creates and starts the lot (default: minted like the bidders' tokens)")
	ldataDir := config.Default().DataDir
	if v, ok := env(config.EnvVar("data-dir")); ok && v != "" {
		ldataDir = v
	}
	lsecret, _ := env(config.EnvVar("auth-secret"))
	fs.StringVar(&ldataDir, "data-dir", ldataDir, "live: the server's data directory holding auth-secret, to mint the bidders' and chatters' tokens (as relaycast token does)")
	fs.StringVar(&lsecret, "auth-secret", lsecret, "live: the server's signing secret (instead of --data-dir)")
	fs.DurationVar(&p.Thresholds.MaxBidP95, "max-bid-p95", d.MaxBidP95, "live: fail above this bid → accepted bid_result p95 (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxPriceP95, "max-price-p95", d.MaxPriceP95, "live: fail above this p95 of the new price (bid event) reaching viewer sockets (0: unchecked)")
	fs.DurationVar(&p.Thresholds.MaxChatP95, "max-chat-p95", d.MaxChatP95, "live: fail above this chat send → viewer socket p95 (0: unchecked)")
	var soak soakFlags
	soak.register(fs) // loadtest_soak.go: --soak DIR runs the soak scenario instead
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: relaycast loadtest [flags]

Publishes to a room and watches it with many synthetic (Pion) and headless Chromium viewers,
prints live progress, writes JSON/HTML reports and exits 1 when a threshold fails.
For load runs start the server without per-IP caps, e.g.
  relaycast serve --ice-loopback --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --record=false
All WebRTC traffic of the harness stays on 127.0.0.1 (loopback ICE only).

Example:
  relaycast loadtest --url http://127.0.0.1:8080 --room shop --token $(relaycast token --room shop --publish) \
    --viewers 300 --browser-viewers 4 --publisher browser --duration 1m --ramp 50/s \
    --server-pid auto --json out.json --html out.html --max-loss 1% --max-g2g-p95 300ms

The live room (docs/LIVE-LOAD.md): bidders, chatters and viewer sockets over /ws, with tokens
minted from the server's secret (--data-dir or --auth-secret, as relaycast token finds it):
  relaycast loadtest --url http://127.0.0.1:8080 --room shop --data-dir ./data \
    --bidders 1000 --bid-rate 1000 --live-viewers 1000 --duration 60s --server-pid auto

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
	// Thresholds: a flag left alone keeps its default (n/a when the run cannot measure it); one
	// given explicitly fails the run when its figure is missing; 0 turns a check off.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	th := &p.Thresholds
	for _, f := range []struct {
		name string
		v    *time.Duration
	}{{"max-g2g-p95", &th.MaxG2GP95}, {"max-latency-p99", &th.MaxLatencyP99}, {"max-first-keyframe-p95", &th.MaxFirstKeyframeP95},
		{"max-first-frame-p95", &th.MaxFirstFrameP95}, {"max-jb-p95", &th.MaxJitterBufferP95},
		{"max-bid-p95", &th.MaxBidP95}, {"max-price-p95", &th.MaxPriceP95}, {"max-chat-p95", &th.MaxChatP95}} {
		switch {
		case !set[f.name]:
			*f.v = 0
		case *f.v <= 0:
			*f.v = -1
		}
	}
	for _, f := range []struct {
		name, in string
		v        *float64
	}{{"max-loss", maxLoss, &th.MaxLossPct}, {"min-connected", minConnected, &th.MinConnectedPct}} {
		if !set[f.name] {
			continue
		}
		if *f.v, err = loadtest.ParsePercent(f.in); err != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: --%s: %v\n", f.name, err)
			return exitUsage
		}
		if *f.v == 0 {
			*f.v = -1
		}
	}
	switch maxFreezes {
	case "":
	case "off":
		th.MaxFreezes = -1
	default:
		n, err := strconv.Atoi(maxFreezes)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "relaycast loadtest: --max-freezes: want a number >= 0 or off, got %q\n", maxFreezes)
			return exitUsage
		}
		th.MaxFreezes, th.CheckFreezes = n, true
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
	live := p.Bidders > 0 || p.Chatters > 0 || p.LiveViewers > 0
	if !set["publisher"] && live && p.Viewers == 0 && p.BrowserViewers == 0 && p.HLSViewers == 0 {
		p.Publisher = loadtest.PublisherNone // a live-room-only run needs no video
	}
	if !set["stalled"] && p.LiveViewers == 0 {
		p.Stalled = 0
	}
	if soak.dir != "" || soak.report != "" {
		return runSoakCmd(p, soak, set, lsecret, ldataDir, stdout, stderr)
	}
	if p.Bidders > 0 || p.Chatters > 0 {
		mint, err := liveMinter(lsecret, ldataDir, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: %v\n", err)
			return exitFailure
		}
		p.Mint = mint
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

// liveMinter signs the live scenario's tokens with the server's secret, resolved as
// `relaycast token` resolves it (--auth-secret, else --data-dir/auth-secret).
func liveMinter(secret, dataDir string, stderr io.Writer) (func(loadtest.MintRequest) (string, error), error) {
	if secret != "" && len(secret) < auth.MinSecretLen {
		return nil, fmt.Errorf("--auth-secret must be at least %d bytes", auth.MinSecretLen)
	}
	signer, generated, err := auth.LoadSigner(secret, dataDir)
	if err != nil {
		return nil, err
	}
	if generated {
		fmt.Fprintf(stderr, "relaycast loadtest: generated a new signing secret in %s: the server must use the same --data-dir\n",
			filepath.Join(dataDir, auth.SecretFileName))
	}
	return func(r loadtest.MintRequest) (string, error) {
		grants := make([]auth.Grant, len(r.Grants))
		for i, g := range r.Grants {
			grants[i] = auth.Grant(g)
		}
		return signer.IssueClaims(auth.Claims{Room: r.Room, Grants: grants, Subject: r.Subject, Name: r.Name}, 2*time.Hour)
	}, nil
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
	if s := r.Synthetic; s.Target > 0 {
		fmt.Fprintf(w, "synthetic: %d/%d joined (%d failed, %d dropped), loss %s%% (%d of %d), join p95 %s ms, first keyframe p50/p95 %s/%s ms, latency p50/p99 %s/%s ms\n",
			s.Connected, s.Target, s.Failed, s.Disconnected, na(s.LossPct, s.Packets > 0), s.Lost, s.Packets+s.Lost,
			dist(s.Join, s.Join.P95), dist(s.FirstKeyframe, s.FirstKeyframe.P50), dist(s.FirstKeyframe, s.FirstKeyframe.P95),
			dist(s.Latency, s.Latency.P50), dist(s.Latency, s.Latency.P99))
	}
	if b := r.Browser; b != nil {
		fmt.Fprintf(w, "browser: %d/%d playing, g2g p50/p95 %s/%s ms (%d samples), jb+proc p50/p95 %s/%s ms, first frame p50/p95 %s/%s ms, freezes %d in the hold (%d in all), loss %s%%\n",
			b.Playing, b.Target, dist(b.G2G, b.G2G.P50), dist(b.G2G, b.G2G.P95), b.G2G.Count, dist(b.JBPlusProc, b.JBPlusProc.P50), dist(b.JBPlusProc, b.JBPlusProc.P95),
			dist(b.FirstFrame, b.FirstFrame.P50), dist(b.FirstFrame, b.FirstFrame.P95), b.HoldFreezes, b.Freezes, loadtest.FormatFigure(b.LossPct))
	}
	if r.Layers != nil {
		fmt.Fprintf(w, "layers received (by bitrate): %s\n", r.Layers)
	}
	if c := r.RTCP; c != nil {
		fmt.Fprintf(w, "rtcp: %.1f RR/s, %.1f REMB/s, %.1f NACK/s (%d seqs, %d retransmits received), %.1f TWCC/s (negotiated %v); server %.1f RR/s, %.1f resent/s\n",
			c.RRPerSecond, c.REMBPerSecond, c.NACKPerSecond, c.NACKedSeqs, c.Retransmits, c.TWCCPerSecond, c.TWCCNegotiated, c.ServerRRPerSecond, c.ServerResentPerSecond)
	}
	if g := r.Generator; g != nil {
		fmt.Fprintf(w, "generator: gro %v, %d reads (%d coalesced), %.3f datagrams per read\n", g.GRO, g.Reads, g.CoalescedReads, g.SegmentsPerRead)
	}
	v := r.Server
	fmt.Fprintf(w, "server (hold %ss): cpu %s cores (/proc %s), max %s, rss %s MB, forwarded %s Mb/s, %s packets sent, %s dropped, %s viewers/core\n",
		loadtest.FormatFigure(r.HoldSeconds), na(v.CPUCoresMean, v.Measured), na(v.ProcCPUCoresMean, v.ProcMeasured), na(v.CPUCoresMax, v.Measured),
		na(v.RSSMaxBytes/1e6, v.Measured), na(v.ForwardedMbps, v.Measured), na(v.PacketsSent, v.Measured), na(v.PacketsDropped, v.Measured),
		na(v.ViewersPerCore, v.ViewersPerCore > 0))
	if rec := r.Recording; rec != nil {
		fmt.Fprintf(w, "recording: %s\n", rec.Note)
	}
	r.PrintLive(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, c := range r.Checks {
		fmt.Fprintln(w, c.String())
	}
	if r.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

func na(v float64, measured bool) string {
	if !measured {
		return "n/a"
	}
	return loadtest.FormatFigure(v)
}

func dist(d loadtest.Dist, v float64) string { return na(v, d.Count > 0) }
