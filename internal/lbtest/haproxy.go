// Package lbtest puts a real HAProxy in front of test nodes: Start writes a haproxy.cfg for N
// loopback backends (HTTP mode, round robin, no stickiness, `option httpchk GET /readyz` every
// 500 ms, fall 1, rise 2, WebSocket-friendly timeouts), runs `haproxy -f cfg -db` on a free port
// and stops it when the test ends. Each answer through it carries the header BackendHeader
// naming the backend that served it, and State reads the backends' health from HAProxy's
// admin socket. docs/CLUSTER.md ("Behind a load balancer") shows the same configuration.
package lbtest

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BackendHeader names the backend (Params.Names) that served an answer.
const BackendHeader = "X-Relaycast-Backend"

// Params configures Start.
type Params struct {
	// Backends are the nodes' host:port addresses (loopback), at least one.
	Backends []string
	// Names are the backends' names in HAProxy (its stats and BackendHeader); default n0, n1, …
	Names []string
	// Inter is the health check interval (default 500ms); a node is out after Fall failed
	// checks (default 1) and back in after Rise good ones (default 2).
	Inter      time.Duration
	Fall, Rise int
}

// HAProxy is one running haproxy process.
type HAProxy struct {
	// URL is the balancer's base URL (http://127.0.0.1:PORT).
	URL string
	// Config is the haproxy.cfg it runs with.
	Config string
	names  []string
	sock   string
	log    *lockedBuffer
}

// Binary finds haproxy: a missing one skips the test, or fails it in CI (CI set), where
// scripts/test.sh installs it.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy not installed (scripts/test.sh installs it: apt-get install haproxy)")
		}
		t.Skip("haproxy not installed (apt-get install haproxy)")
	}
	return bin
}

// WriteConfig renders the haproxy.cfg of p listening on listen (host:port), with its admin
// socket at sock.
func WriteConfig(p Params, listen, sock string) string {
	p = p.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096
    stats socket %s mode 600 level admin

defaults
    mode http
    option http-server-close
    timeout connect 2s
    # Pages and the API answer quickly; WHIP/WHEP offers wait for the SDP answer (< 10 s).
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # A WebSocket (/ws) once upgraded is a tunnel: it lives as long as the show.
    timeout tunnel 1h
    timeout client-fin 5s

frontend relaycast
    bind %s
    http-request deny deny_status 404 if { path_beg /internal/ }
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter %dms fastinter %dms downinter %dms fall %d rise %d
    http-response set-header %s %%s
`, sock, listen, p.Inter.Milliseconds(), p.Inter.Milliseconds(), p.Inter.Milliseconds(), p.Fall, p.Rise, BackendHeader)
	for i, addr := range p.Backends {
		fmt.Fprintf(&b, "    server %s %s check\n", p.Names[i], addr)
	}
	return b.String()
}

func (p Params) withDefaults() Params {
	if p.Inter <= 0 {
		p.Inter = 500 * time.Millisecond
	}
	if p.Fall <= 0 {
		p.Fall = 1
	}
	if p.Rise <= 0 {
		p.Rise = 2
	}
	if len(p.Names) != len(p.Backends) {
		p.Names = make([]string, len(p.Backends))
		for i := range p.Backends {
			p.Names[i] = fmt.Sprintf("n%d", i)
		}
	}
	return p
}

// Start runs haproxy in front of p.Backends and waits until it answers and every backend is
// UP; it is stopped when the test ends (its log is printed if the test failed).
func Start(t testing.TB, p Params) *HAProxy {
	t.Helper()
	if len(p.Backends) == 0 {
		t.Fatal("lbtest: no backends")
	}
	bin := Binary(t)
	p = p.withDefaults()
	dir := t.TempDir()
	port := freePort(t)
	h := &HAProxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), names: p.Names, sock: filepath.Join(dir, "admin.sock"), log: &lockedBuffer{}}
	h.Config = WriteConfig(p, fmt.Sprintf("127.0.0.1:%d", port), h.sock)
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(h.Config), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v: %s\n%s", err, out, h.Config)
	}
	cmd := exec.Command(bin, "-f", cfg, "-db")
	cmd.Stdout, cmd.Stderr = h.log, h.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- haproxy log ---\n%s", h.log.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("haproxy exited: %s", h.log.String())
		default:
		}
		st, err := h.State()
		up := err == nil && len(st) == len(p.Names)
		for _, s := range st {
			up = up && s == "UP"
		}
		if up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy backends not all UP within 10 s: %v %v\n%s", st, err, h.log.String())
		}
	}
	return h
}

// Names are the backends' names, in Params.Backends order.
func (h *HAProxy) Names() []string { return h.names }

// State is every backend's status as HAProxy sees it ("UP", "DOWN", "UP 1/2", "MAINT", …), by name.
func (h *HAProxy) State() (map[string]string, error) {
	out, err := h.command("show stat")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("lbtest: show stat: %v: %q", err, out)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	st := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) <= col["status"] || row[col["pxname"]] != "nodes" {
			continue
		}
		if sv := row[col["svname"]]; sv != "BACKEND" && sv != "FRONTEND" {
			st[sv] = row[col["status"]]
		}
	}
	return st, nil
}

// WaitState waits until backend name has status want ("UP", "DOWN") and returns when it saw it.
func (h *HAProxy) WaitState(t testing.TB, name, want string, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := h.State()
		if err == nil && st[name] == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy backend %s not %s within %s: %v %v", name, want, d, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SetState sets backend name's admin state: "ready", "maint" (out of rotation, HAProxy's status
// MAINT) or "drain" (HAProxy's own drain: no new connections). Tests use it to steer round robin.
func (h *HAProxy) SetState(name, state string) error {
	out, err := h.command(fmt.Sprintf("set server nodes/%s state %s", name, state))
	if err != nil {
		return err
	}
	if out = strings.TrimSpace(out); out != "" {
		return fmt.Errorf("lbtest: set server %s state %s: %s", name, state, out)
	}
	return nil
}

// Served sends one request through the balancer (no keep-alive: each is balanced anew) and
// returns the status and the backend that answered.
func (h *HAProxy) Served(ctx context.Context, method, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.URL+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get(BackendHeader), nil
}

// command runs one command on the admin socket.
func (h *HAProxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.sock, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String(), sc.Err()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the process's output from its two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
