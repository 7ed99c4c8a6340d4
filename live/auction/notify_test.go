package auction

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// engineNotify is env.engine with a notify claim time and any OnSettled hook.
func (e *env) engineNotify(node string, claim time.Duration, hook func(Lot, []Bid)) *Engine {
	en, err := New(Params{Redis: e.rdb, Log: e.log(), NodeID: node, LeaseTTL: testTTL,
		NotifyClaimTTL: claim, OnSettled: hook})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = en.Close() })
	return en
}

// unnotified is the claim expiry of a lot's pending OnSettled (ok false: none pending).
func (e *env) unnotified(room, id string) (score float64, ok bool) {
	s, err := e.rdb.ZScore(context.Background(), e.prefix+":auction:unnotified", id+":"+room).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return s, true
}

func (e *env) unnotifiedCount() int64 {
	n, err := e.rdb.ZCard(context.Background(), e.prefix+":auction:unnotified").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// settledLogOf is the lot's bid log as it was when it settled (n entries).
func settledLogOf(t *testing.T, en *Engine, room, id string, n int) []Bid {
	t.Helper()
	all, err := en.Bids(context.Background(), room, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < n {
		t.Fatalf("log of %d entries, want at least %d", len(all), n)
	}
	return all[:n]
}

// TestNotifyAfterCrash: the node whose timer settles a lot dies right after the settle script
// (its OnSettled never runs, nothing acknowledges). Once its claim expires, the other node
// runs OnSettled with exactly the settled lot and its log as it was when the lot ended (not a
// bid refused later), acknowledges, and the lot is never notified again.
func TestNotifyAfterCrash(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		const claim = time.Second
		var settled settledLog
		a := ev.engineNotify("A", claim, settled.hook("A"))
		a.dropNotify.Store(true)
		bn := ev.engineNotify("B", claim, settled.hook("B"))
		lot := openLot(t, a, "crash", LotInput{Title: "crash", DurationS: 5, Mode: ModeSuddenDeath})
		mustBid(t, bn, BidRequest{Room: "crash", LotID: lot.ID, Subject: "w", Name: "W", MaxAmount: 900})
		acceptBid(t, bn, BidRequest{Room: "crash", LotID: lot.ID, Subject: "x", Name: "X", Amount: 500})
		var final Lot
		waitFor(t, 10*time.Second, "A's timer to settle the lot", func() bool {
			final = okLot(t)(bn.Get(ctx, "crash", lot.ID))
			return final.Status == StatusSold
		})
		settledAt := time.Now()
		atEnd, err := bn.Bids(ctx, "crash", lot.ID)
		if err != nil {
			t.Fatal(err)
		}
		nlog := len(atEnd)
		if r := mustBid(t, bn, BidRequest{Room: "crash", LotID: lot.ID, Subject: "y", Name: "Y", Amount: 5000}); r.Code != CodeLotClosed {
			t.Fatalf("bid after the end: %+v", r)
		}
		if _, ok := ev.unnotified("crash", lot.ID); !ok && len(settled.get()) == 0 {
			t.Fatal("a settled lot is not recorded as unnotified")
		}
		waitFor(t, 5*time.Second, "B to run the lost OnSettled", func() bool { return len(settled.get()) == 1 })
		t.Logf("OnSettled run by the other node %v after the settlement (claim %v)",
			time.Since(settledAt).Round(time.Millisecond), claim)
		call := settled.get()[0]
		if call.node != "B" || call.lot.Status != StatusSold || str(call.lot.Winner) != "w" || call.lot.Price != 600 {
			t.Fatalf("OnSettled on %s: %+v", call.node, call.lot)
		}
		// exactly the lot the settle script made (its server_time included)
		if call.lot.ServerTime != call.lot.EndedAt {
			t.Fatalf("not the settlement's lot: server_time %d, ended_at %d", call.lot.ServerTime, call.lot.EndedAt)
		}
		final.ServerTime = call.lot.ServerTime
		if !reflect.DeepEqual(call.lot, final) {
			t.Fatalf("OnSettled lot\n%+v\nsettled lot\n%+v", call.lot, final)
		}
		if want := settledLogOf(t, bn, "crash", lot.ID, nlog); nlog != 3 || !reflect.DeepEqual(call.bids, want) {
			t.Fatalf("OnSettled log %+v, want %+v", call.bids, want)
		}
		waitFor(t, 2*time.Second, "the acknowledgement", func() bool { return ev.unnotifiedCount() == 0 })
		time.Sleep(3 * claim)
		if n := len(settled.get()); n != 1 {
			t.Fatalf("OnSettled %d times", n)
		}
	})
}

// TestNotifyHungCall: the settling node's OnSettled (after End) hangs. It does not claim its own
// running call again; another node claims it once the claim expired and runs it with the same
// lot. The hung call, returning after that, is refused its acknowledgement (a stale token); the
// newer claim's node acknowledges, and nothing is notified again.
func TestNotifyHungCall(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		const claim = 2 * time.Second
		var settled settledLog
		releaseA, releaseB := make(chan struct{}), make(chan struct{})
		var onceA, onceB sync.Once
		blocking := func(node string, release chan struct{}) func(Lot, []Bid) {
			rec := settled.hook(node)
			return func(l Lot, bids []Bid) {
				rec(l, bids)
				<-release
			}
		}
		a := ev.engineNotify("A", claim, blocking("A", releaseA))
		t.Cleanup(func() { onceA.Do(func() { close(releaseA) }); onceB.Do(func() { close(releaseB) }) })

		lot := openLot(t, a, "hung", LotInput{Title: "hung", DurationS: 60})
		mustBid(t, a, BidRequest{Room: "hung", LotID: lot.ID, Subject: "w", Name: "W", Amount: 300})
		ended := okLot(t)(a.End(ctx, "hung", lot.ID))
		waitFor(t, 2*time.Second, "A's OnSettled", func() bool { return len(settled.get()) == 1 })
		started := time.Now()
		if _, ok := ev.unnotified("hung", lot.ID); !ok {
			t.Fatal("a lot whose OnSettled runs is not recorded as unnotified")
		}
		// A alone: its own hung call is not claimed again, however long it hangs
		time.Sleep(2*claim + 500*time.Millisecond)
		if n := len(settled.get()); n != 1 {
			t.Fatalf("A ran its own hung call again: %d calls", n)
		}

		bn := ev.engineNotify("B", claim, blocking("B", releaseB))
		waitFor(t, 3*time.Second, "B to claim the hung call", func() bool { return len(settled.get()) == 2 })
		t.Logf("B ran it %v after A's call began", time.Since(started).Round(time.Millisecond))
		calls := settled.get()
		if calls[1].node != "B" || !reflect.DeepEqual(calls[1].lot, ended) || !reflect.DeepEqual(calls[0].lot, ended) ||
			!reflect.DeepEqual(calls[1].bids, calls[0].bids) || len(calls[1].bids) != 1 {
			t.Fatalf("calls: %+v\nended: %+v", calls, ended)
		}
		// A returns now, with a stale token: refused, B's claim stands
		before, _ := ev.unnotified("hung", lot.ID)
		onceA.Do(func() { close(releaseA) })
		waitFor(t, time.Second, "A's call to end", func() bool { return !a.isNotifying("hung", lot.ID) })
		if after, ok := ev.unnotified("hung", lot.ID); !ok || after != before {
			t.Fatalf("a stale acknowledgement changed the claim: %v %v (was %v)", after, ok, before)
		}
		onceB.Do(func() { close(releaseB) })
		waitFor(t, time.Second, "B's acknowledgement", func() bool { return ev.unnotifiedCount() == 0 })
		time.Sleep(claim + 500*time.Millisecond)
		if n := len(settled.get()); n != 2 || bn.isNotifying("hung", lot.ID) {
			t.Fatalf("notified again after the acknowledgement: %d calls", n)
		}
	})
}

// TestNotifyOncePerLot: the normal path across two engines: lots of several rooms settled by
// timers and by End on either node — exactly one OnSettled per lot, acknowledged at once,
// never repeated after the claims would have expired. A node without OnSettled records nothing.
func TestNotifyOncePerLot(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		const claim = time.Second
		var settled settledLog
		engines := []*Engine{ev.engineNotify("A", claim, settled.hook("A")), ev.engineNotify("B", claim, settled.hook("B"))}
		rooms := []string{"r0", "r1", "r2", "r3"}
		ids := map[string]string{}
		for i, room := range rooms {
			en := engines[i%2]
			in := LotInput{Title: room, DurationS: 5, Mode: ModeSuddenDeath}
			lot := openLot(t, en, room, in)
			ids[room] = lot.ID
			if i%3 != 0 {
				mustBid(t, engines[(i+1)%2], BidRequest{Room: room, LotID: lot.ID, Subject: "w" + room, Name: "W", Amount: 100})
			}
		}
		// r0 and r1 ended early by the other node; r2 and r3 by their owner's timer
		okLot(t)(engines[1].End(ctx, "r0", ids["r0"]))
		okLot(t)(engines[0].End(ctx, "r1", ids["r1"]))
		waitFor(t, 10*time.Second, "every lot to be notified", func() bool { return len(settled.get()) == len(rooms) })
		waitFor(t, time.Second, "every acknowledgement", func() bool { return ev.unnotifiedCount() == 0 })
		time.Sleep(2*claim + 500*time.Millisecond)
		calls := settled.get()
		if len(calls) != len(rooms) {
			t.Fatalf("%d OnSettled calls for %d lots", len(calls), len(rooms))
		}
		seen := map[string]bool{}
		for _, c := range calls {
			if seen[c.lot.ID] || ids[c.lot.Room] != c.lot.ID {
				t.Fatalf("call for %s/%s twice or unknown", c.lot.Room, c.lot.ID)
			}
			seen[c.lot.ID] = true
			want := map[bool]string{true: StatusUnsold, false: StatusSold}[c.lot.Room == "r0" || c.lot.Room == "r3"]
			if c.lot.Status != want {
				t.Fatalf("%s: %s, want %s", c.lot.Room, c.lot.Status, want)
			}
		}

		// without OnSettled: settled, nothing recorded
		plain := ev.engine("C", testTTL, nil)
		lot := openLot(t, plain, "plain", LotInput{Title: "plain", DurationS: 30})
		if l := okLot(t)(plain.End(ctx, "plain", lot.ID)); l.Status != StatusUnsold {
			t.Fatalf("ended: %+v", l)
		}
		if n := ev.unnotifiedCount(); n != 0 {
			t.Fatalf("%d unnotified after a settle without OnSettled", n)
		}
	})
}
