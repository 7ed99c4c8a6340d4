package archive

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// TestContinuationState runs the recording state's rules (continue.go) on miniredis and, with
// RELAYCAST_TEST_REDIS, on the real Redis: A records chunks 0 and 1 (1 claimed, its upload not
// confirmed) and dies; B takes over from index 2 at A's claimed end, chunk 1 becoming a hole;
// A's chunk in flight (index 2) is refused, its claimed chunk 1 may still come; only B ends the
// recording; after B's clean end A may go on within the grace, after it nobody does.
func TestContinuationState(t *testing.T) {
	mini, mc := redistest.Mini(t)
	backends := []struct {
		name   string
		rdb    redis.UniversalClient
		expire func(time.Duration)
	}{{"miniredis", mc, mini.FastForward}}
	if rc := redistest.Real(t, redis.Options{DB: 14}); rc != nil {
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		backends = append(backends, struct {
			name   string
			rdb    redis.UniversalClient
			expire func(time.Duration)
		}{"redis", rc, time.Sleep})
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { continuationRules(t, be.rdb, be.expire) })
	}
}

func continuationRules(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration)) {
	ctx := context.Background()
	st, err := storage.NewLocal(storage.LocalParams{Dir: t.TempDir(), BaseURL: "/vod/"})
	if err != nil {
		t.Fatal(err)
	}
	const grace = 400 * time.Millisecond
	node := func(id string) *continuation {
		return &continuation{rdb: rdb, node: id, grace: grace, store: st, log: slog.New(slog.DiscardHandler),
			async: func(f func(context.Context)) { f(ctx) }}
	}
	a, b := node("A"), node("B")
	started := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	a.begin(recorder.Manifest{ID: "r1", Room: "shop", StartedAt: started}, "seller")
	chunk := func(i int, start float64) recorder.ChunkInfo {
		return recorder.ChunkInfo{RecordingID: "r1", Index: i, Start: start, Duration: 4, Closed: true, Width: 640, Height: 360}
	}
	claim := func(c *continuation, ci recorder.ChunkInfo, want bool) {
		t.Helper()
		if ok, err := c.claim(ctx, ci); err != nil || ok != want {
			t.Fatalf("%s claims chunk %d: %v %v, want %v", c.node, ci.Index, ok, err, want)
		}
	}
	claim(a, chunk(0, 0), true)
	a.ack(ctx, "r1", 0)
	claim(a, chunk(1, 4), true) // A dies before its upload is confirmed

	m, ok := b.resume("shop", nil)
	if !ok || m.ID != "r1" || m.Chunks != 2 || m.End != 8 || m.Resumed != 1 || !m.StartedAt.Equal(started) || m.Width != 640 {
		t.Fatalf("B's takeover: %v %+v", ok, m)
	}
	var hs transcode.Holes
	if rc, err := st.Get(ctx, transcode.HolesKey("r1")); err != nil {
		t.Fatal(err)
	} else {
		_ = json.NewDecoder(rc).Decode(&hs)
		_ = rc.Close()
	}
	if !slices.Equal(hs.Holes, []int{1}) {
		t.Fatalf("holes.json %+v, want [1]", hs)
	}
	claim(a, chunk(2, 8), false) // A's chunk in flight lies in B's part
	claim(a, chunk(1, 4), true)  // A's claimed chunk may still come (restart)
	claim(b, chunk(2, 8), true)
	claim(b, chunk(1, 4), false)
	if !a.live(ctx, "r1") {
		t.Fatal("recording not live while B records it")
	}
	if _, mine, _ := a.mayEnd(ctx, "r1"); mine {
		t.Fatal("A may end a recording B goes on with")
	}
	if holes, mine, err := b.mayEnd(ctx, "r1"); err != nil || !mine || !slices.Equal(holes, []int{1}) {
		t.Fatalf("B's end: %v %v %v", holes, mine, err)
	}
	if mine, ok := a.foreign(ctx, "r1"); !ok || !mine(1) || mine(2) {
		t.Fatal("A's view of the foreign recording")
	}
	if _, ok := b.foreign(ctx, "r1"); ok {
		t.Fatal("B's own recording is foreign to B")
	}

	b.ended(recorder.Manifest{ID: "r1", Room: "shop", Chunks: 3, End: 12})
	if a.live(ctx, "r1") {
		t.Fatal("live after B's clean end")
	}
	m, ok = a.resume("shop", nil) // back on A within the grace
	if !ok || m.Chunks != 3 || m.End != 12 || m.Resumed != 2 {
		t.Fatalf("A's continuation after B's end: %v %+v", ok, m)
	}
	a.ended(recorder.Manifest{ID: "r1", Room: "shop", Chunks: 3, End: 12}) // sent nothing
	expire(grace + 200*time.Millisecond)
	if m, ok := b.resume("shop", nil); ok {
		t.Fatalf("continued after the grace: %+v", m)
	}
	// Orphan: r2's node records chunk 0 (confirmed) and 1 (claimed) and vanishes; nobody goes on.
	a.begin(recorder.Manifest{ID: "r2", Room: "lone", StartedAt: started}, "seller")
	claim(a, recorder.ChunkInfo{RecordingID: "r2", Index: 0, Duration: 4}, true)
	a.ack(ctx, "r2", 0)
	claim(a, recorder.ChunkInfo{RecordingID: "r2", Index: 1, Start: 4, Duration: 4}, true)
	if got := b.orphans(ctx); len(got) != 0 {
		t.Fatalf("orphans while the room key lives: %+v", got)
	}
	expire(grace + 200*time.Millisecond)
	got := b.orphans(ctx)
	if len(got) != 1 || got[0].ID != "r2" || got[0].Chunks != 2 || !slices.Equal(got[0].Holes, []int{1}) || !got[0].Ended {
		t.Fatalf("orphans: %+v", got)
	}
	if again := a.orphans(ctx); len(again) != 0 {
		t.Fatalf("an orphan finished twice: %+v", again)
	}
	if n := rdb.SCard(ctx, openSet).Val(); n != 0 {
		t.Errorf("%d ids left in the open set", n)
	}
	// Redis knows nothing of the room: the local recording goes on (flushed Redis).
	local := recorder.Manifest{ID: "r9", Room: "other", Chunks: 5, End: 20, Resumed: 1}
	if m, ok := a.resume("other", &local); !ok || m.ID != "r9" || m.Chunks != 5 || m.Resumed != 2 {
		t.Fatalf("local fallback: %v %+v", ok, m)
	}
	// A recording unknown to Redis claims and ends as on one node.
	if ok, err := a.claim(ctx, recorder.ChunkInfo{RecordingID: "r9", Index: 5}); !ok || err != nil {
		t.Fatalf("claim of an untracked recording: %v %v", ok, err)
	}
	if _, mine, err := a.mayEnd(ctx, "r9"); !mine || err != nil {
		t.Fatalf("end of an untracked recording: %v %v", mine, err)
	}
}
