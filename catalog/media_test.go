package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// firstSchema is the recordings table as the first version created it.
const firstSchema = `
CREATE TABLE recordings (
	id TEXT PRIMARY KEY,
	room TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	seller TEXT NOT NULL DEFAULT '',
	started_at INTEGER NOT NULL,
	ended_at INTEGER,
	duration REAL NOT NULL DEFAULT 0,
	status TEXT NOT NULL,
	progress REAL NOT NULL DEFAULT 0,
	renditions TEXT NOT NULL DEFAULT '[]',
	hls_url TEXT NOT NULL DEFAULT '',
	poster_url TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);
CREATE INDEX recordings_started ON recordings(started_at DESC, id DESC);
`

// TestMediaColumnsOnOldSQLite: a SQLite database of an older version (without the tracks, log
// and retryable columns) opens and keeps its rows.
func TestMediaColumnsOnOldSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	// The schema before tracks, log and retryable (source and subtitles existed).
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(firstSchema); err != nil {
		t.Fatal(err)
	}
	for _, m := range legacyColumns[:2] {
		if _, err := db.Exec(m.ddl); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO recordings (id, room, started_at, status, updated_at) VALUES ('old', 'shop', 1, 'ready', 1)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	c, err := Open(Params{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old, err := c.Get(ctx, "old")
	if err != nil || old.Tracks == nil || len(old.Tracks) != 0 || old.Log != "" || old.Retryable {
		t.Fatalf("old row: %+v %v", old, err)
	}
}

// TestMediaFields: tracks, log and retryable are stored and read back; Public drops the log.
func TestMediaFields(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		r := Recording{ID: "r1", Room: "shop", StartedAt: time.Now(), Status: StatusReady,
			Tracks: []Track{{Kind: "video", Codec: "vp8"}, {Kind: "audio", Codec: "opus", Dropped: true, Reason: "could not be decoded"}},
			Error:  "The audio track could not be decoded and was dropped.", Log: "[opus] Error parsing the packet header. ×50"}
		if err := c.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := c.Update(ctx, "r1", func(r *Recording) error { r.Retryable = true; return nil })
		if err != nil {
			t.Fatal(err)
		}
		got, _ = c.Get(ctx, "r1")
		if len(got.Tracks) != 2 || !got.Tracks[1].Dropped || got.Tracks[1].Reason == "" || got.Log != r.Log || !got.Retryable {
			t.Fatalf("%+v", got)
		}
		b, _ := json.Marshal(got.Public())
		if strings.Contains(string(b), `"log"`) || !strings.Contains(string(b), `"tracks":[{"kind":"video","codec":"vp8"},{"kind":"audio","codec":"opus","dropped":true,"reason":"could not be decoded"}]`) {
			t.Fatalf("public JSON %s", b)
		}
		if b, _ := json.Marshal(got); !strings.Contains(string(b), `"log":"[opus]`) {
			t.Fatalf("full JSON %s", b)
		}
	})
}
