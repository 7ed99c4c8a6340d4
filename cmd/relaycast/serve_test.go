package main

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

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
