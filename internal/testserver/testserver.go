// Package testserver starts a real relaycast server in-process for tests: loopback-only ICE,
// random ports, a temporary data directory, no connection caps.
package testserver

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/server"
)

// Secret is the auth secret of every test server.
const Secret = "test-secret-0123456789abcdef"

// Config is the test configuration: loopback ICE on random ports, a temporary data dir.
func Config(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ICEUDPPort = 0
	cfg.ICELoopback = true
	cfg.DataDir = t.TempDir()
	cfg.AuthSecret = Secret
	cfg.MaxConns = 0
	cfg.MaxConnsPerIP = 0
	// Every client of a test is 127.0.0.1: the per-address write limits are off too (their own
	// tests turn them on).
	cfg.RateLimitIP, cfg.RateLimitUser = "off", "off"
	return cfg
}

// Start starts a server with Config(t), changed by mutate if non-nil, and shuts it down when the
// test ends.
func Start(t testing.TB, mutate func(*config.Config)) *server.Server {
	t.Helper()
	cfg := Config(t)
	if mutate != nil {
		mutate(&cfg)
	}
	return run(t, server.Params{Config: cfg, Stdout: io.Discard}, 10*time.Second)
}

// Run starts a server with p and shuts it down (bounded by 15 s) when the test ends.
func Run(t testing.TB, p server.Params) *server.Server {
	t.Helper()
	return run(t, p, 15*time.Second)
}

func run(t testing.TB, p server.Params, grace time.Duration) *server.Server {
	t.Helper()
	srv, err := server.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// Token issues a one-hour token for room with grant, subject "test-<room>".
func Token(t testing.TB, srv *server.Server, room string, g auth.Grant) string {
	t.Helper()
	tok, err := srv.Signer().Issue(room, []auth.Grant{g}, time.Hour, "test-"+room)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
