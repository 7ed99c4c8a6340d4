package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/web"
)

// TestServeGracefulShutdown runs the real binary: it starts with embedded defaults, prints its
// ready links, answers /healthz, and exits 0 on SIGTERM.
func TestServeGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--http", "127.0.0.1:0", "--ice-udp-port", "0", "--ice-loopback", "--data-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	// The page links are printed only when the binary embeds the web UI (the same web/dist
	// as this test binary); without it the banner says so (defect 5).
	whepRe := regexp.MustCompile(`WHEP:\s+(http://\S+)/whep/demo`)
	goLiveRe := regexp.MustCompile(`/broadcast/demo\?token=[\w.-]+`)
	sc := bufio.NewScanner(stdout)
	var base string
	sawBroadcast, sawNotBuilt := false, false
	for sc.Scan() && base == "" {
		line := sc.Text()
		sawBroadcast = sawBroadcast || goLiveRe.MatchString(line)
		sawNotBuilt = sawNotBuilt || strings.Contains(line, "NOT BUILT")
		if m := whepRe.FindStringSubmatch(line); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no ready links printed; stderr:\n%s", stderr.String())
	}
	if web.Built() && (!sawBroadcast || sawNotBuilt) {
		t.Errorf("UI built: Go live link %v, NOT BUILT notice %v", sawBroadcast, sawNotBuilt)
	}
	if !web.Built() && (sawBroadcast || !sawNotBuilt) {
		t.Errorf("UI not built: Go live link %v, NOT BUILT notice %v", sawBroadcast, sawNotBuilt)
	}
	go func() { // keep draining stdout
		for sc.Scan() {
		}
	}()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM\nstderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "shut down") {
		t.Errorf("no shutdown log line:\n%s", stderr.String())
	}
}

// TestServeSecondSignalCutsDrain: a cluster member (--redis-url) drains on SIGTERM, waiting for
// its WebSockets to go (up to --drain-timeout, here a minute); a client that ignores the
// `reconnect` message keeps it waiting, and a second SIGTERM makes it shut down at once.
func TestServeSecondSignalCutsDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr := os.Getenv("RELAYCAST_TEST_REDIS")
	if addr == "" {
		t.Skip("RELAYCAST_TEST_REDIS not set")
	}
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "serve", "--http", strings.TrimPrefix(base, "http://"), "--ice-udp-port", "0", "--ice-loopback",
		"--record=false", "--redis-url", "redis://"+addr+"/1", "--drain-timeout", "60s", "--data-dir", t.TempDir())
	var stderr strings.Builder
	cmd.Stderr, cmd.Stdout = &stderr, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", stderr.String())
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"/ws", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// The dial returns before the server has counted the socket: a ping answered means it has
	// (a SIGTERM sent earlier found 0 sockets and drained at once).
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for { // the server says hello first
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no pong: %v", err)
		}
		if strings.Contains(string(msg), `"pong"`) {
			break
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	go func() { // a client that reads (and ignores `reconnect`) but never leaves
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("exited (%v) during a drain with a socket left:\n%s", err, stderr.String())
	case <-time.After(1500 * time.Millisecond):
	}
	second := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after the second SIGTERM: %v\n%s", err, stderr.String())
		}
		t.Logf("second SIGTERM → exited after %s", time.Since(second).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after a second SIGTERM:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("no log line for the second signal:\n%s", stderr.String())
	}
}
