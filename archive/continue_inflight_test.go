package archive

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
)

// TestContinuationReservesInFlight: a takeover of a part whose node died leaves the indices that
// node may have had on its disk in its part (holes), and starts the new part's index and
// timeline after them (continue_inflight.go). A records chunk 0 (confirmed); chunk 1 is closed
// but its claim still queued and chunk 2 open when it dies (its last beat: 3 chunks opened,
// media up to 9.4 s). B goes on from index 4 at 9.4 + 1.25 s; 1, 2 and 3 are holes that A may
// still fill (its reconciler), 4 on are B's. A part that ended cleanly, or a position from an
// earlier part, reserves nothing. Miniredis, and the real Redis with RELAYCAST_TEST_REDIS.
func TestContinuationReservesInFlight(t *testing.T) {
	_, mc := redistest.Mini(t)
	backends := map[string]redis.UniversalClient{"miniredis": mc}
	if rc := redistest.Real(t, redis.Options{DB: 13}); rc != nil {
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		backends["redis"] = rc
	}
	for name, rdb := range backends {
		t.Run(name, func(t *testing.T) { inFlightRules(t, rdb) })
	}
}

func inFlightRules(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	st, err := storage.NewLocal(storage.LocalParams{Dir: t.TempDir(), BaseURL: "/vod/"})
	if err != nil {
		t.Fatal(err)
	}
	node := func(id string) *continuation {
		return &continuation{rdb: rdb, node: id, grace: 5 * time.Second, store: st, log: slog.New(slog.DiscardHandler),
			async: func(f func(context.Context)) { f(ctx) }}
	}
	a, b, c := node("A"), node("B"), node("C")
	claim := func(n *continuation, id string, i int, start float64, want bool) {
		t.Helper()
		if ok, err := n.claim(ctx, recorder.ChunkInfo{RecordingID: id, Index: i, Start: start, Duration: 3, Closed: true}); err != nil || ok != want {
			t.Fatalf("%s claims chunk %d of %s: %v %v, want %v", n.node, i, id, ok, err, want)
		}
	}
	a.begin(recorder.Manifest{ID: "r1", Room: "shop", StartedAt: time.Now()}, "seller")
	claim(a, "r1", 0, 0, true)
	a.ack(ctx, "r1", 0)
	a.beat(ctx, map[string]recorder.Position{"r1": {Chunks: 3, End: 9.4}})

	m, ok := b.resume("shop", nil)
	if wantEnd := 9.4 + inFlightSlack.Seconds(); !ok || m.Chunks != 4 || math.Abs(m.End-wantEnd) > 1e-9 || m.Resumed != 1 {
		t.Fatalf("B's takeover: %v %+v, want chunks from 4 at %.2f s", ok, m, wantEnd)
	}
	if holes, mine, err := b.mayEnd(ctx, "r1"); err != nil || !mine || !slices.Equal(holes, []int{1, 2, 3}) {
		t.Fatalf("B's end: holes %v, mine %v, %v; want [1 2 3]", holes, mine, err)
	}
	mine, foreign := a.foreign(ctx, "r1")
	if !foreign || !mine(1) || !mine(2) || !mine(3) || mine(4) {
		t.Fatal("A's view: chunks 1-3 must be A's, 4 B's")
	}
	for i := 1; i <= 3; i++ { // A's reconciler, back: the chunks on its disk
		claim(a, "r1", i, 3*float64(i), true)
	}
	claim(a, "r1", 4, 12, false) // past the reserved range: B's
	claim(b, "r1", 4, m.End, true)
	claim(b, "r1", 2, 6, false)

	// C takes over from B before B's first beat: the position is A's, of an earlier part: no
	// reservation, C goes on at B's claimed end.
	m, ok = c.resume("shop", nil)
	if !ok || m.Chunks != 5 || m.Resumed != 2 {
		t.Fatalf("C's takeover: %v %+v, want chunks from 5", ok, m)
	}

	// A clean end reserves nothing, whatever the last beat said.
	a.begin(recorder.Manifest{ID: "r2", Room: "calm", StartedAt: time.Now()}, "seller")
	a.beat(ctx, map[string]recorder.Position{"r2": {Chunks: 2, End: 5.9}})
	claim(a, "r2", 0, 0, true)
	claim(a, "r2", 1, 3, true)
	a.ack(ctx, "r2", 0)
	a.ack(ctx, "r2", 1)
	a.ended(recorder.Manifest{ID: "r2", Room: "calm", Chunks: 2, End: 6})
	m, ok = b.resume("calm", nil)
	if !ok || m.Chunks != 2 || m.End != 6 {
		t.Fatalf("takeover after a clean end: %v %+v, want chunks from 2 at 6 s", ok, m)
	}
	if holes, _, _ := b.mayEnd(ctx, "r2"); len(holes) != 0 {
		t.Fatalf("holes after a clean end: %v", holes)
	}
}
