package archive_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/events"
	"github.com/relaycast/relaycast/internal/pgtest"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/transcode"
)

// TestReadyOfAnotherNodesBroadcast: nodes sharing a catalog all apply every worker update. A
// node that did not record a broadcast leaves it alone while the catalog says it is being
// recorded (live again on its own node after a reconnect: that node finishes it), and marks
// any other recording ready as usual.
func TestReadyOfAnotherNodesBroadcast(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			url := ""
			if store == "postgres" {
				url = pgtest.URL(t)
			}
			s := startArchive(t, func(c *config.Config) { c.CatalogURL = url })
			cat := s.Archive().Catalog()
			ctx := context.Background()
			now := time.Now()
			for id, st := range map[string]catalog.Status{"live-elsewhere": catalog.StatusRecording, "done-elsewhere": catalog.StatusProcessing} {
				if err := cat.Put(ctx, catalog.Recording{ID: id, Room: "shop", StartedAt: now, Status: st}); err != nil {
					t.Fatal(err)
				}
			}
			rdb := s.Archive().RedisOpt().MakeRedisClient().(redis.UniversalClient)
			defer rdb.Close()
			bus, err := events.New(events.Params{Redis: rdb, Channel: archive.ChannelFor(archive.UpdatesChannel, s.Archive().RedisOpt())})
			if err != nil {
				t.Fatal(err)
			}
			defer bus.Close()
			notify := archive.PublishUpdates(bus)
			// In order: the node has applied the first once the second shows.
			for _, id := range []string{"live-elsewhere", "done-elsewhere"} {
				notify(ctx, transcode.Update{Kind: transcode.UpdateReady, RecordingID: id, HLSURL: "/vod/rec/" + id + "/master.m3u8",
					Duration: 8, Renditions: []string{"360p"}})
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				r, err := cat.Get(ctx, "done-elsewhere")
				if err == nil && r.Status == catalog.StatusReady {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("done-elsewhere never ready: %+v %v", r, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if r, err := cat.Get(ctx, "live-elsewhere"); err != nil || r.Status != catalog.StatusRecording {
				t.Fatalf("another node's live broadcast: %+v %v, want still recording", r, err)
			}
		})
	}
}

// TestCatalogUnreachable: a node whose PostgreSQL catalog cannot be reached does not start,
// with an error that names the catalog and hides the password.
func TestCatalogUnreachable(t *testing.T) {
	cfg := testserver.ArchiveConfig(t)
	cfg.CatalogURL = "postgres://relay:hunter2@127.0.0.1:1/relaycast"
	a, err := archive.New(archive.Params{Config: cfg})
	if err == nil {
		a.Close()
		t.Fatal("started without its catalog")
	}
	if msg := err.Error(); !strings.Contains(msg, "catalog") || !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "hunter2") {
		t.Fatalf("error %q: want the catalog's address, never its password", msg)
	}
}
