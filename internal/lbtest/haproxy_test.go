package lbtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHAProxy: two backends behind a real HAProxy share the requests (round robin, the header
// names who served); one whose /readyz turns 503 is DOWN within a check interval or so and gets
// nothing more, and is UP again after two good checks.
func TestHAProxy(t *testing.T) {
	var ready [2]atomic.Bool
	var addrs []string
	for i := range ready {
		ready[i].Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" && !ready[i].Load() {
				http.Error(w, "draining", http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}))
		t.Cleanup(srv.Close)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	h := Start(t, Params{Backends: addrs})
	if !strings.Contains(h.Config, "option httpchk GET /readyz") || !strings.Contains(h.Config, "timeout tunnel 1h") ||
		!strings.Contains(h.Config, "balance roundrobin") {
		t.Fatalf("config lacks the health check, tunnel timeout or round robin:\n%s", h.Config)
	}
	ctx := context.Background()
	served := func(n int) map[string]int {
		t.Helper()
		by := map[string]int{}
		for range n {
			code, who, err := h.Served(ctx, http.MethodGet, "/x")
			if err != nil || code != 200 {
				t.Fatalf("GET through haproxy: %d %v", code, err)
			}
			by[who]++
		}
		return by
	}
	if by := served(6); by["n0"] != 3 || by["n1"] != 3 {
		t.Fatalf("served by %v: want 3 each (round robin)", by)
	}
	if code, who, err := h.Served(ctx, http.MethodPost, "/internal/rooms/x/end"); err != nil || code != http.StatusNotFound || who != "" {
		t.Errorf("POST /internal/… through haproxy: %d from %q (%v), want 404 from haproxy itself", code, who, err)
	}
	ready[1].Store(false)
	start := time.Now()
	took := h.WaitState(t, "n1", "DOWN", 3*time.Second).Sub(start)
	t.Logf("backend out %v after its /readyz turned 503", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Errorf("backend out after %v: want within 1.5 s (inter 500ms, fall 1)", took)
	}
	if by := served(6); by["n1"] != 0 || by["n0"] != 6 {
		t.Fatalf("served by %v after n1 went DOWN: want all by n0", by)
	}
	ready[1].Store(true)
	h.WaitState(t, "n1", "UP", 5*time.Second)
	if err := h.SetState("n0", "maint"); err != nil {
		t.Fatal(err)
	}
	h.WaitState(t, "n0", "MAINT", time.Second)
	if by := served(4); by["n1"] != 4 {
		t.Fatalf("served by %v with n0 in maintenance: want all by n1", by)
	}
	if err := h.SetState("n0", "ready"); err != nil {
		t.Fatal(err)
	}
	h.WaitState(t, "n0", "UP", 5*time.Second)
	if err := h.SetState("nx", "ready"); err == nil {
		t.Error("SetState of an unknown backend: no error")
	}
}

func TestWriteConfigDefaults(t *testing.T) {
	cfg := WriteConfig(Params{Backends: []string{"127.0.0.1:1", "127.0.0.1:2"}}, "127.0.0.1:9", "/tmp/s")
	for _, want := range []string{
		"inter 500ms", "fall 1 rise 2", "server n0 127.0.0.1:1 check", "server n1 127.0.0.1:2 check",
		"bind 127.0.0.1:9", "http-response set-header X-Relaycast-Backend %s",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "cookie") || strings.Contains(cfg, "stick") {
		t.Errorf("config has stickiness:\n%s", cfg)
	}
}
