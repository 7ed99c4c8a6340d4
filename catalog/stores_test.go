package catalog

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relaycast/relaycast/internal/pgtest"
)

// The catalog tests run against every store: SQLite always, PostgreSQL when
// RELAYCAST_TEST_POSTGRES is set (required in CI; see internal/pgtest). Each test gets its own
// database (a SQLite file, a PostgreSQL schema).

// opener opens a new handle to the test's database at each call (closed when the test ends):
// two handles are two nodes sharing one catalog.
type opener func(t *testing.T) Store

func sqliteOpener(t *testing.T) opener {
	path := filepath.Join(t.TempDir(), "c.db")
	return func(t *testing.T) Store {
		t.Helper()
		c, err := Open(Params{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

func postgresOpener(t *testing.T) opener {
	u := pgtest.URL(t)
	return func(t *testing.T) Store {
		t.Helper()
		c, err := OpenPostgres(context.Background(), PostgresParams{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

// eachStore runs fn once per store, as subtests "sqlite" and "postgres".
func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Helper()
	for _, s := range []struct {
		name string
		new  func(*testing.T) opener
	}{{"sqlite", sqliteOpener}, {"postgres", postgresOpener}} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fn(t, s.new(t))
		})
	}
}

// rawEventData is the data column of one stored live event, as the database holds it.
func rawEventData(t *testing.T, c Store, room string, seq int64) string {
	t.Helper()
	var text string
	var err error
	switch c := c.(type) {
	case *SQLite:
		err = c.db.QueryRow(`SELECT data FROM live_events WHERE room = ? AND seq = ?`, room, seq).Scan(&text)
	case *Postgres:
		err = c.pool.QueryRow(context.Background(), `SELECT data FROM live_events WHERE room = $1 AND seq = $2`, room, seq).Scan(&text)
	default:
		t.Fatalf("unknown store %T", c)
	}
	if err != nil {
		t.Fatalf("event %s/%d: %v", room, seq, err)
	}
	return text
}
