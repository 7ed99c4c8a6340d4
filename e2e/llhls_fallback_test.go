package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// llhlsNetnsEnv marks the copy of the test binary running inside its network namespace.
const llhlsNetnsEnv = "RELAYCAST_LLHLS_NETNS"

// TestLLHLSUDPBlocked: WebRTC's UDP blocked in a network namespace → the watch page falls back
// to LL-HLS by itself (the "Delayed mode" badge, the picture plays); when UDP is let through
// again, the page switches back to WebRTC by itself.
//
// The test runs itself again under `unshare -n` (a network namespace with only lo, so nothing
// leaves the machine), where the server (no ICE-TCP: testserver's config leaves it off), the
// WHIP publisher and Chromium all run. After the publisher is connected, UDP on lo is dropped by
// a tc classifier for every port but the publisher's own (so the show goes on and every new UDP
// socket — Chromium's — is blocked). This kernel has no tc gact action, so the drop is a classic
// BPF program in direct-action mode (tc filter … bpf da bytecode …), returning TC_ACT_SHOT.
func TestLLHLSUDPBlocked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and ffmpeg in a network namespace")
	}
	if os.Getenv(llhlsNetnsEnv) == "" {
		runInNetns(t, "TestLLHLSUDPBlocked")
		return
	}
	mustRun(t, "ip", "link", "set", "lo", "up")
	srv := startServer(t)
	const room = "llhls-udp"
	before := udpPorts(t)
	llhlsPublish(t, srv, room)
	after := udpPorts(t)
	var allow []int
	for p := range after {
		if !before[p] {
			allow = append(allow, p)
		}
	}
	slices.Sort(allow)
	if len(allow) == 0 {
		t.Fatal("found no UDP socket of the publisher")
	}
	// The room is live and nobody asked for its live HLS: with --live-hls-start on-demand (the
	// default) it is dormant, and the page's prewarm request (PREWARM_MS after it asked for
	// WebRTC) starts it, so the switch measured below is from a cold room.
	waitRoomLive(t, srv, room, 30*time.Second)
	if hs, _ := srv.LiveHLS(); hs != nil {
		if _, ok := hs.Stream(room); ok {
			t.Fatal("the room has live HLS before any request (on demand)")
		}
	}
	blockUDP(t, allow)
	t.Logf("UDP on lo dropped except the publisher's ports %v", allow)

	ctx := browser(t)
	page := tab(t, ctx)
	navigate(t, page, srv.URL()+"/watch/"+room)
	waitJS(t, page, 30*time.Second, `window.relaycast.hls.shown === "hls" && window.relaycast.hls.playing && window.relaycast.hls.frames() > 15`, "the page to fall back to LL-HLS")
	f := hlsNow(t, page)
	tm := f.Times
	t.Logf("WebRTC asked → fallback decided: %.0f ms; fallback → HLS playing: %.0f ms; WebRTC asked → HLS playing: %.0f ms (live HLS prewarmed %.0f ms after WebRTC was asked); badge %q",
		tm.FallbackAt-tm.AskedBeforeFallback, tm.HLSPlayingAt-tm.FallbackAt, tm.HLSPlayingAt-tm.AskedBeforeFallback, tm.PrewarmAt-tm.AskedBeforeFallback, f.Badge)
	if _, feed := srv.LiveHLS(); feed != nil && feed.Stats().Starts < 1 {
		t.Fatalf("the room's live HLS was not started on demand: %+v", feed.Stats())
	}
	if f.Reason != "fallback" || !f.BadgeShown || !strings.Contains(f.Badge, "Delayed mode") {
		t.Fatalf("reason %q badge %q shown=%v: want the fallback with its badge", f.Reason, f.Badge, f.BadgeShown)
	}
	hlsPlaysSteadily(t, page, 3*time.Second, 4)
	// WebRTC really did not get through (no decoded frame, not connected).
	rtc, err := chromedp.Run(page, chromedp.Evaluate[string](`(window.relaycast.pc ? window.relaycast.pc.connectionState : "none") + "/" + window.relaycast.framesDecoded()`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(rtc, "connected") {
		t.Fatalf("WebRTC connected with UDP blocked (%s): the test does not block it", rtc)
	}
	overlay, _ := chromedp.Run(page, chromedp.Evaluate[bool](`document.getElementById("overlay").hidden`))
	if !overlay {
		t.Fatal("the connecting overlay covers the HLS picture")
	}

	// UDP back: the page's background WebRTC attempts get through and it switches back.
	unblockUDP(t)
	open := time.Now()
	waitJS(t, page, 60*time.Second, `window.relaycast.hls.switchesBack >= 1 && window.relaycast.hls.shown === "webrtc" && window.relaycast.state === "playing"`, "the switch back to WebRTC")
	g := hlsNow(t, page)
	t.Logf("UDP let through → back on WebRTC in %.0f ms (the live session's backoff paces the attempts)", g.Times.BackToWebRTCAt-float64(open.UnixMilli()))
	waitJS(t, page, 10*time.Second, `window.relaycast.framesDecoded() > 30 && !document.getElementById("video").paused`, "WebRTC frames")
	if g.BadgeShown {
		t.Fatalf("badge %q still shown on WebRTC", g.Badge)
	}
	if hid, _ := chromedp.Run(page, chromedp.Evaluate[bool](`document.getElementById("hls-video").hidden && !window.relaycast.hls.active`)); !hid {
		t.Fatal("hls.js still runs after the switch back")
	}
}

// runInNetns runs the test named name of this binary again inside a new network namespace.
func runInNetns(t *testing.T, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root (unshare -n)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (iproute2)", tool)
		}
	}
	if out, err := exec.Command(unshare, "-n", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -n is not allowed here: %v %s", err, out)
	}
	args := []string{"-n", "--", os.Args[0], "-test.run", "^" + name + "$", "-test.v", "-test.count=1", "-test.timeout=5m"}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), llhlsNetnsEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("%s in its network namespace: %v", name, err)
	}
	if !strings.Contains(out.String(), "--- PASS: "+name) {
		t.Fatalf("%s did not pass in its network namespace (skipped?)", name)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}

// udpPorts is the set of local UDP ports bound in this network namespace (IPv4 and IPv6).
func udpPorts(t *testing.T) map[int]bool {
	t.Helper()
	ports := map[int]bool{}
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			if p, err := strconv.ParseUint(fields[1][i+1:], 16, 16); err == nil {
				ports[int(p)] = true
			}
		}
	}
	return ports
}

// blockUDP drops UDP on lo except packets from or to the allowed ports: a classic BPF program
// on the clsact egress hook (every packet on lo passes it once), direct action.
func blockUDP(t *testing.T, allow []int) {
	t.Helper()
	// ldb [23] (IPv4 protocol after the 14-byte link header); not UDP → pass.
	// ldxb 4*([14]&0xf) (IP header length); ldh [x+14] (source port) == allowed → pass;
	// ldh [x+16] (destination port) == allowed → pass; else ret TC_ACT_SHOT (2).
	type ins struct{ code, jt, jf, k int }
	n := 2 + 1 + 1 + len(allow) + 1 + len(allow) + 2
	pass := n - 1
	prog := []ins{{0x30, 0, 0, 23}, {0x15, 0, pass - 2, 17}, {0xb1, 0, 0, 14}, {0x48, 0, 0, 14}}
	for _, p := range allow {
		prog = append(prog, ins{0x15, pass - len(prog) - 1, 0, p})
	}
	prog = append(prog, ins{0x48, 0, 0, 16})
	for _, p := range allow {
		prog = append(prog, ins{0x15, pass - len(prog) - 1, 0, p})
	}
	prog = append(prog, ins{0x06, 0, 0, 2}, ins{0x06, 0, 0, 0})
	parts := []string{strconv.Itoa(len(prog))}
	for _, i := range prog {
		parts = append(parts, fmt.Sprintf("%d %d %d %d", i.code, i.jt, i.jf, i.k))
	}
	mustRun(t, "tc", "qdisc", "add", "dev", "lo", "clsact")
	mustRun(t, "tc", "filter", "add", "dev", "lo", "egress", "prio", "2", "protocol", "ip", "bpf", "da", "bytecode", strings.Join(parts, ","))
}

func unblockUDP(t *testing.T) {
	t.Helper()
	mustRun(t, "tc", "filter", "del", "dev", "lo", "egress", "prio", "2")
}
