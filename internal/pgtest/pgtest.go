// Package pgtest gives tests their PostgreSQL: the server named by
// RELAYCAST_TEST_POSTGRES=postgres://user[:pass]@host:port/db (scripts/test.sh starts a private
// one), with one fresh schema per test so that parallel tests never see each other's rows.
// Without the variable a test skips, unless CI is set: then it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the PostgreSQL server.
const Env = "RELAYCAST_TEST_POSTGRES"

// Available reports whether RELAYCAST_TEST_POSTGRES is set.
func Available() bool { return os.Getenv(Env) != "" }

// URL creates an empty schema for the test and returns a connection URL whose sessions use it
// (search_path); the schema is dropped when the test ends. Without RELAYCAST_TEST_POSTGRES the
// test is skipped, or failed when CI is set.
func URL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(Env)
	if base == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set (CI must run the PostgreSQL tests; scripts/test.sh starts a server)", Env)
		}
		tb.Skipf("%s not set: PostgreSQL not tested", Env)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("%s=%s: %v", Env, u.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
