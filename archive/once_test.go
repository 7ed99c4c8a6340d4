package archive_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/events"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/transcode"
)

// TestUpdatesAnnouncedOnce: two nodes on one Redis both hear every worker update; the SSE
// clients (of either node) get each progress event and each failure once, not once per node —
// and two updates that say the same thing twice.
func TestUpdatesAnnouncedOnce(t *testing.T) {
	a, b, _, _ := sharedNodes(t, 2)
	ctx := context.Background()
	const id = "announced-once"
	if err := a.Archive().Catalog().Put(ctx, catalog.Recording{ID: id, Room: "shop", StartedAt: time.Now(), Status: catalog.StatusProcessing}); err != nil {
		t.Fatal(err)
	}
	events1, events2 := sse(t, a.Base), sse(t, b.Base)
	rdb := a.Archive().RedisOpt().MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	bus, err := events.New(events.Params{Redis: rdb, Channel: archive.ChannelFor(archive.UpdatesChannel, a.Archive().RedisOpt())})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	notify := archive.PublishUpdates(bus)
	const n = 5
	for i := range n {
		notify(ctx, transcode.Update{Kind: transcode.UpdateProgress, RecordingID: id, Chunk: 0, Progress: float64(10 * (i + 1))})
	}
	// The same failure twice (a job run again fails the same way): two announcements.
	for range 2 {
		notify(ctx, transcode.Update{Kind: transcode.UpdateFailed, RecordingID: id, Error: "ffmpeg said no"})
	}

	for name, ch := range map[string]<-chan testserver.Event{"A": events1, "B": events2} {
		progress, failed := 0, 0
		for deadline := time.After(3 * time.Second); ; {
			var e testserver.Event
			select {
			case e = <-ch:
			case <-deadline:
			}
			if e.Type == "" {
				break
			}
			var d struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			}
			_ = json.Unmarshal(e.Data, &d)
			if d.ID != id {
				continue
			}
			switch {
			case e.Type == "progress":
				progress++
			case e.Type == "recording" && d.Status == string(catalog.StatusFailed):
				failed++
			}
		}
		if progress != n || failed != 2 {
			t.Errorf("node %s's SSE clients got %d progress events (want %d) and %d failures (want 2)", name, progress, n, failed)
		}
	}
}
