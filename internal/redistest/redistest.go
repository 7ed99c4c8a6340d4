// Package redistest gives tests their Redis: always the embedded miniredis (the server's
// default), and the real Redis named by RELAYCAST_TEST_REDIS=host:port when it is set, so that
// the same code runs on both.
package redistest

import (
	"context"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Env is the variable naming the real Redis (host:port).
const Env = "RELAYCAST_TEST_REDIS"

// Mini starts a miniredis for the test and returns it with a client of it; both are closed
// when the test ends.
func Mini(tb testing.TB) (*miniredis.Miniredis, *redis.Client) {
	tb.Helper()
	m := miniredis.RunT(tb)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { _ = c.Close() })
	return m, c
}

// Real returns a client of the real Redis of RELAYCAST_TEST_REDIS with opt (its Addr is set
// from the variable), checked with a PING (a failure fails the test) and closed when the test
// ends; nil when the variable is unset.
func Real(tb testing.TB, opt redis.Options) *redis.Client {
	tb.Helper()
	addr := os.Getenv(Env)
	if addr == "" {
		return nil
	}
	opt.Addr = addr
	c := redis.NewClient(&opt)
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("%s=%s: %v", Env, addr, err)
	}
	return c
}
