package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrateOldDatabase: a data dir written by the previous version (no source/subtitles
// columns) opens, keeps its rows, and takes the new fields.
func TestMigrateOldDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// The schema as the first version created it.
	if _, err := db.Exec(`CREATE TABLE recordings (id TEXT PRIMARY KEY, room TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
		description TEXT NOT NULL DEFAULT '', seller TEXT NOT NULL DEFAULT '', started_at INTEGER NOT NULL, ended_at INTEGER,
		duration REAL NOT NULL DEFAULT 0, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, renditions TEXT NOT NULL DEFAULT '[]',
		hls_url TEXT NOT NULL DEFAULT '', poster_url TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL);
		INSERT INTO recordings (id, room, title, started_at, status, updated_at) VALUES ('old', 'shop', 'Old one', 1, 'ready', 1);`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	for i := 0; i < 2; i++ { // and a second open of the migrated file is a no-op
		c, err := Open(Params{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		var version int64
		if err := c.db.QueryRow(`SELECT max(version_id) FROM ` + MigrationsTable + ` WHERE is_applied`).Scan(&version); err != nil || version < 1 {
			t.Fatalf("open %d: schema version %d (%v), want the migrations applied", i, version, err)
		}
		r, err := c.Get(ctx, "old")
		if err != nil || r.Title != "Old one" || r.Source != SourceLive || r.Subtitles == nil || (i == 0 && len(r.Subtitles) != 0) {
			t.Fatalf("open %d: %+v %v", i, r, err)
		}
		if i == 0 { // the tables of later versions were created
			if err := c.SaveLiveEvents(ctx, "shop", []LiveEvent{chat(1, 1, "hi")}); err != nil {
				t.Fatal(err)
			}
			if err := c.PutUpload(ctx, Upload{ID: "u", CreatedAt: time.Now(), ExpiresAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Update(ctx, "old", func(r *Recording) error {
				r.Subtitles = []Subtitle{{Lang: "en", Label: "English", URL: "/vod/rec/old/subs/en.vtt"}}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		} else if len(r.Subtitles) != 1 || r.Subtitles[0].Label != "English" {
			t.Fatalf("subtitles after reopen: %+v", r.Subtitles)
		}
		_ = c.Close()
	}
}

// TestListQuery: ?q= matches title substrings case-insensitively, literally, with the other
// filters and through the pages.
func TestListQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		base := time.Now().UTC().Truncate(time.Millisecond)
		titles := []string{"Spring SALE live", "spring sale #2", "Autumn", "100% off_sale", "Sale in room b"}
		for i, title := range titles {
			room := "a"
			if i == 4 {
				room = "b"
			}
			if err := c.Put(ctx, Recording{ID: fmt.Sprintf("r%d", i), Room: room, Title: title, StartedAt: base.Add(time.Duration(i) * time.Second),
				Status: StatusReady, Source: SourceUpload}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			q, room string
			want    []string
		}{
			{"sale", "", []string{"r4", "r3", "r1", "r0"}},
			{"SPRING", "", []string{"r1", "r0"}},
			{"sale", "a", []string{"r3", "r1", "r0"}},
			{"%", "", []string{"r3"}},
			{"_", "", []string{"r3"}},
			{"nothing", "", nil},
		}
		for _, tt := range tests {
			t.Run(tt.q+"/"+tt.room, func(t *testing.T) {
				var got []string
				cursor := ""
				for {
					page, err := c.List(ctx, ListParams{Limit: 1, Cursor: cursor, Room: tt.room, Query: tt.q})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range page.Recordings {
						got = append(got, r.ID)
						if r.Source != SourceUpload {
							t.Errorf("source %q", r.Source)
						}
					}
					if cursor = page.NextCursor; cursor == "" {
						break
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestUploads(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		u := Upload{ID: "u1", Room: "shop", Title: "t", Seller: "s", Filename: "a.mp4", ContentType: "video/mp4", Size: 25, PartSize: 10,
			Key: "raw/u1/source.mp4", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if u.Parts() != 3 || u.PartLen(1) != 10 || u.PartLen(3) != 5 {
			t.Fatalf("parts %d, len %d %d", u.Parts(), u.PartLen(1), u.PartLen(3))
		}
		if err := c.PutUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := c.PutUpload(ctx, u); err == nil {
			t.Fatal("duplicate upload id accepted")
		}
		got, err := c.GetUpload(ctx, "u1")
		if err != nil || got.State != UploadPending || got.Size != 25 || !got.ExpiresAt.Equal(u.ExpiresAt) {
			t.Fatalf("%+v %v", got, err)
		}
		if ok, _ := c.SetUploadState(ctx, "u1", UploadPending, UploadCompleting); !ok {
			t.Fatal("claim failed")
		}
		if ok, _ := c.SetUploadState(ctx, "u1", UploadPending, UploadCompleting); ok {
			t.Fatal("claimed twice")
		}
		// Completing: not expired until the grace passed too.
		if exp, _ := c.ExpiredUploads(ctx, now.Add(2*time.Hour), 2*time.Hour); len(exp) != 0 {
			t.Fatalf("completing upload listed as expired: %+v", exp)
		}
		if exp, _ := c.ExpiredUploads(ctx, now.Add(4*time.Hour), 2*time.Hour); len(exp) != 1 {
			t.Fatalf("stuck upload not listed: %+v", exp)
		}
		_, _ = c.SetUploadState(ctx, "u1", UploadCompleting, UploadPending)
		if exp, _ := c.ExpiredUploads(ctx, now.Add(30*time.Minute), time.Hour); len(exp) != 0 {
			t.Fatalf("live upload listed as expired: %+v", exp)
		}
		if exp, _ := c.ExpiredUploads(ctx, now.Add(61*time.Minute), time.Hour); len(exp) != 1 || exp[0].ID != "u1" {
			t.Fatalf("expired: %+v", exp)
		}
		if err := c.DeleteUpload(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetUpload(ctx, "u1"); err == nil {
			t.Fatal("deleted upload found")
		}
	})
}
