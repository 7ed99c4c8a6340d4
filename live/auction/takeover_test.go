package auction

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const testTTL = 900 * time.Millisecond // renewals and scans every 300 ms

// leaseOf reads a lot's lease fields.
func (e *env) leaseOf(room, id string) (owner, fence string) {
	v, err := e.rdb.HMGet(context.Background(), e.prefix+":{"+room+"}:lot:"+id, "owner", "fence").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	owner, _ = v[0].(string)
	fence, _ = v[1].(string)
	return owner, fence
}

// bidLoop bids through en every 100 ms, two bidders taking turns, until the lot closes.
func bidLoop(ctx context.Context, en *Engine, room, id string) (results chan BidResult, done chan error) {
	results, done = make(chan BidResult, 1<<12), make(chan error, 1)
	go func() {
		defer close(results)
		for i := 0; ; i++ {
			lot, err := en.Get(ctx, room, id)
			if err != nil {
				done <- err
				return
			}
			r, err := en.Bid(ctx, BidRequest{Room: room, LotID: id, Subject: fmt.Sprintf("u%d", i%2),
				Name: "U", Amount: lot.MinAmount})
			if err != nil {
				done <- err
				return
			}
			results <- r
			if r.Code == CodeLotClosed {
				done <- nil
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return results, done
}

// TestTakeoverPausedOwner: the owner of a lot stops (a paused process: no renewals, no
// settling); the other node takes the lease over when it expires, the timer goes on (bids keep
// extending it) and the new owner settles exactly once. The old owner, resumed with its stale
// fencing token, is refused: it can neither renew nor settle.
func TestTakeoverPausedOwner(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		var settled settledLog
		a, bn := ev.engine("A", testTTL, &settled), ev.engine("B", testTTL, &settled)
		lot := openLot(t, a, "to", LotInput{Title: "takeover", DurationS: 5, ExtendWindowS: 2, ExtendToS: 2, MaxExtensions: 3})
		if owner, fence := ev.leaseOf("to", lot.ID); owner != "A" || fence != "1" {
			t.Fatalf("lease after start: %q %q", owner, fence)
		}
		results, done := bidLoop(ctx, bn, "to", lot.ID)
		time.Sleep(300 * time.Millisecond)
		a.paused.Store(true)
		paused := time.Now()
		waitFor(t, 3*time.Second, "B to take the lease over", func() bool {
			owner, _ := ev.leaseOf("to", lot.ID)
			return owner == "B"
		})
		t.Logf("taken over %v after the owner stopped", time.Since(paused).Round(time.Millisecond))
		owner, fence := ev.leaseOf("to", lot.ID)
		if fence != "2" {
			t.Fatalf("fence after the takeover: %q (owner %q)", fence, owner)
		}
		// the old owner's token is stale: refused, nothing written
		r, err := a.tickOnce(ctx, "to", lot.ID, "1")
		if err != nil || r.code != "fenced" {
			t.Fatalf("stale tick: %+v %v", r, err)
		}
		if o, f := ev.leaseOf("to", lot.ID); o != "B" || f != "2" {
			t.Fatalf("a stale tick changed the lease: %q %q", o, f)
		}
		waitFor(t, 15*time.Second, "the lot to settle", func() bool { return len(settled.get()) == 1 })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var all []BidResult
		for r := range results {
			all = append(all, r)
		}
		call := settled.get()[0]
		if call.node != "B" || call.lot.Status != StatusSold || call.lot.Extensions == 0 {
			t.Fatalf("settled by %s: %+v", call.node, call.lot)
		}
		bids, err := bn.Bids(ctx, "to", lot.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, all, bids)
		checkInvariants(t, call.lot, bids)
		replay(t, call.lot, bids)

		// resumed: its timer finds the lot settled and stops; settling again is refused
		a.paused.Store(false)
		waitFor(t, 2*time.Second, "the old owner's timer to stop", func() bool { return !a.isOwned("to", lot.ID) })
		if r, err := a.tickOnce(ctx, "to", lot.ID, "1"); err != nil || r.code != "gone" {
			t.Fatalf("stale settle: %+v %v", r, err)
		}
		if _, err := a.End(ctx, "to", lot.ID); err == nil {
			t.Fatal("ended a settled lot")
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(settled.get()); n != 1 {
			t.Fatalf("OnSettled %d times", n)
		}
		t.Logf("%d bids through the takeover, %d extensions", countAccepted(bids), call.lot.Extensions)
	})
}

// TestTakeoverAfterClose: a node that closes hands its leases back; another node takes over
// at its next look and settles the lot at its time.
func TestTakeoverAfterClose(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		var settled settledLog
		a, bn := ev.engine("A", testTTL, &settled), ev.engine("B", testTTL, &settled)
		open := openLot(t, a, "cl", LotInput{Title: "close", DurationS: 5, Mode: ModeSuddenDeath})
		acceptBid(t, bn, BidRequest{Room: "cl", LotID: open.ID, Subject: "w", Name: "W", Amount: 100})
		_ = a.Close()
		waitFor(t, 2*time.Second, "B to take over", func() bool {
			owner, _ := ev.leaseOf("cl", open.ID)
			return owner == "B"
		})
		if _, err := a.Bid(ctx, BidRequest{Room: "cl", LotID: open.ID, Subject: "x", Amount: 500}); err == nil {
			t.Fatal("a closed engine took a bid")
		}
		waitFor(t, 8*time.Second, "the lot to settle", func() bool { return len(settled.get()) == 1 })
		call := settled.get()[0]
		if call.node != "B" || str(call.lot.Winner) != "w" || call.lot.EndsAt != open.EndsAt || call.lot.EndedAt < open.EndsAt {
			t.Fatalf("settled by %s: %+v", call.node, call.lot)
		}
		t.Logf("settled %d ms after ends_at by the node that took over", call.lot.EndedAt-call.lot.EndsAt)
	})
}

// TestLateTakeover: the only owner stops; the lot's time passes and nothing settles it (no
// owner, no settle). A node that comes up later finds it, takes it over and settles it at
// once; the old owner, resumed, settles nothing.
func TestLateTakeover(t *testing.T) {
	forEachEnv(t, func(t *testing.T, ctx context.Context, ev *env) {
		var settled settledLog
		a := ev.engine("A", testTTL, &settled)
		open := openLot(t, a, "late", LotInput{Title: "late", DurationS: 5, Mode: ModeSuddenDeath})
		acceptBid(t, a, BidRequest{Room: "late", LotID: open.ID, Subject: "w", Name: "W", Amount: 700})
		a.paused.Store(true)
		time.Sleep(time.Duration(open.EndsAt-open.ServerTime+500) * time.Millisecond)
		if l := okLot(t)(a.Get(ctx, "late", open.ID)); l.Status != StatusOpen || len(settled.get()) != 0 {
			t.Fatalf("settled without an owner: %+v", l)
		}
		if r := mustBid(t, a, BidRequest{Room: "late", LotID: open.ID, Subject: "z", Amount: 5000}); r.Code != CodeLotClosed {
			t.Fatalf("a bid after ends_at on an unsettled lot: %+v", r)
		}
		bn := ev.engine("B", testTTL, &settled)
		waitFor(t, 3*time.Second, "B to settle", func() bool { return len(settled.get()) == 1 })
		a.paused.Store(false)
		waitFor(t, 2*time.Second, "the old owner's timer to stop", func() bool { return !a.isOwned("late", open.ID) })
		time.Sleep(400 * time.Millisecond)
		calls := settled.get()
		if len(calls) != 1 || calls[0].node != bn.NodeID() || str(calls[0].lot.Winner) != "w" || calls[0].lot.Price != 700 {
			t.Fatalf("settled: %+v", calls)
		}
	})
}
