package catalog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/pgtest"
)

// TestUpdateConcurrentHandles: two handles on one catalog (two nodes) update one recording at
// the same time; every update sees the previous one (none lost). SQLite's handles share its
// file lock; PostgreSQL's Update holds the row (SELECT … FOR UPDATE) until it commits.
func TestUpdateConcurrentHandles(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		a := open(t)
		nodes := []Store{a, a}
		if _, pg := a.(*Postgres); pg {
			nodes[1] = open(t) // a second pool: another node
		}
		if err := a.Put(ctx, Recording{ID: "r", Room: "shop", StartedAt: time.Now(), Status: StatusProcessing}); err != nil {
			t.Fatal(err)
		}
		const each = 40
		var wg sync.WaitGroup
		errs := make(chan error, 2*each)
		for n, c := range nodes {
			for range 2 { // two goroutines per node
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each / 2 {
						if _, err := c.Update(ctx, "r", func(r *Recording) error {
							r.Progress++
							r.Renditions = append(r.Renditions, string(rune('a'+n)))
							return nil
						}); err != nil {
							errs <- err
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		r, err := nodes[1].Get(ctx, "r")
		if err != nil || r.Progress != 2*each || len(r.Renditions) != 2*each {
			t.Fatalf("after %d updates: progress %v, %d renditions (%v)", 2*each, r.Progress, len(r.Renditions), err)
		}
	})
}

// TestPostgresMigrations: the schema is versioned in MigrationsTable; nodes opening a new
// catalog together migrate it once; reopening is a no-op.
func TestPostgresMigrations(t *testing.T) {
	u := pgtest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stores := make([]*Postgres, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(ctx, PostgresParams{URL: u})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	var applied, latest int64
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE version_id > 0), max(version_id) FROM `+MigrationsTable+` WHERE is_applied`).
		Scan(&applied, &latest); err != nil {
		t.Fatal(err)
	}
	files, _ := migrationFiles.ReadDir("migrations/pg")
	if applied != int64(len(files)) || latest != int64(len(files)) {
		t.Fatalf("%d migrations applied (latest %d), want each of the %d files once", applied, latest, len(files))
	}
	if err := stores[1].Put(ctx, Recording{ID: "x", Room: "r", StartedAt: time.Now(), Status: StatusReady}); err != nil {
		t.Fatal(err)
	}
	again, err := OpenPostgres(ctx, PostgresParams{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if r, err := again.Get(ctx, "x"); err != nil || r.Room != "r" {
		t.Fatalf("after reopen: %+v %v", r, err)
	}
}

// TestOpenPostgresErrors: a bad URL or an unreachable server is a clear error without the
// password.
func TestOpenPostgresErrors(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, url string
		bad       bool // ErrBadURL
	}{
		{"not postgres", "mysql://u:hunter2@127.0.0.1/db", true},
		{"bad port", "postgres://u:hunter2@127.0.0.1:x/db", true},
		{"nothing listening", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenPostgres(ctx, PostgresParams{URL: tt.url, ConnectTimeout: 5 * time.Second})
			if err == nil || errors.Is(err, ErrBadURL) != tt.bad || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v (bad URL expected: %v; never the password)", err, tt.bad)
			}
		})
	}
}

// BenchmarkStores: one Update (read, change, write in a transaction) and one List page per
// store, on loopback for PostgreSQL.
func BenchmarkStores(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var c Store
			var err error
			if name == "sqlite" {
				c, err = Open(Params{Path: b.TempDir() + "/c.db"})
			} else {
				c, err = OpenPostgres(ctx, PostgresParams{URL: pgtest.URL(b)})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for i := range 50 {
				if err := c.Put(ctx, Recording{ID: "r" + strconv.Itoa(i), Room: "shop", StartedAt: time.UnixMilli(int64(i)), Status: StatusReady}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("update", func(b *testing.B) {
				for b.Loop() {
					if _, err := c.Update(ctx, "r7", func(r *Recording) error { r.Progress++; return nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("list20", func(b *testing.B) {
				for b.Loop() {
					if p, err := c.List(ctx, ListParams{}); err != nil || len(p.Recordings) != 20 {
						b.Fatal(len(p.Recordings), err)
					}
				}
			})
		})
	}
}
