package auction

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// replay checks a lot's bid log against the reference model (rules_test.go): every request,
// in log order, must have been decided as the rules say, and every proxy entry must be the
// engine's answer to the request before it.
func replay(t *testing.T, lot Lot, bids []Bid) {
	t.Helper()
	m := &model{table: lot.Increments, start: lot.StartPrice, price: lot.StartPrice}
	for i := 0; i < len(bids); i++ {
		b := bids[i]
		if b.N != int64(i+1) {
			t.Fatalf("entry %d has n=%d", i+1, b.N)
		}
		if b.Proxy {
			t.Fatalf("entry %d: a proxy entry that answers no request: %+v", b.N, b)
		}
		if b.Reason == CodeLotClosed || b.Reason == CodeNotOpen {
			if b.Accepted || b.Price != m.price || str(b.Leader) != m.leader {
				t.Fatalf("entry %d: refused as %s but %+v (model price %d leader %q)", b.N, b.Reason, b, m.price, m.leader)
			}
			continue
		}
		amount, max := b.Amount, int64(0)
		if b.MaxAmount > 0 {
			amount, max = 0, b.MaxAmount
		}
		for j, want := range m.apply(b.Subject, b.Name, amount, max) {
			if i+j >= len(bids) {
				t.Fatalf("entry %d: the log ends before the expected proxy entry", b.N)
			}
			g := bids[i+j]
			got := modelEntry{subject: g.Subject, amount: g.Amount, accepted: g.Accepted, reason: g.Reason,
				proxy: g.Proxy, price: g.Price, leader: str(g.Leader), maxAmount: g.MaxAmount}
			if got != want {
				t.Fatalf("entry %d: logged %+v, the rules say %+v", g.N, got, want)
			}
			if j > 0 {
				i++
			}
		}
	}
}

// checkInvariants checks what must hold whatever the rules' details: prices over accepted
// entries never fall and every rise is a valid amount, the lot's final state is its last
// accepted entry's, no loser offered more than the price, the winner did.
func checkInvariants(t *testing.T, lot Lot, bids []Bid) {
	t.Helper()
	price, has := lot.StartPrice, false
	var last *Bid
	accepted := 0
	offered := map[string]int64{} // the most each bidder offered in an accepted request
	for i := range bids {
		b := &bids[i]
		if !b.Accepted {
			continue
		}
		accepted++
		if b.Price < price {
			t.Fatalf("entry %d: price fell from %d to %d", b.N, price, b.Price)
		}
		if b.Price > price || !has {
			if b.Price < MinAmount(lot.Increments, lot.StartPrice, price, has) {
				t.Fatalf("entry %d: price %d is not a valid amount after %d", b.N, b.Price, price)
			}
		}
		price, has, last = b.Price, true, b
		if !b.Proxy {
			offered[b.Subject] = max(offered[b.Subject], b.Amount, b.MaxAmount)
		}
	}
	if lot.BidCount != accepted {
		t.Fatalf("bid_count %d, %d accepted entries", lot.BidCount, accepted)
	}
	if last == nil {
		if lot.Leader != nil {
			t.Fatalf("a leader without bids: %+v", lot)
		}
		return
	}
	if lot.Price != last.Price || str(lot.Leader) != str(last.Leader) {
		t.Fatalf("lot price %d leader %q, last accepted entry %+v", lot.Price, str(lot.Leader), last)
	}
	if lot.Status == StatusSold && str(lot.Winner) != str(last.Leader) {
		t.Fatalf("winner %q, final leader %q", str(lot.Winner), str(last.Leader))
	}
	for who, x := range offered {
		if who != str(last.Leader) && x > lot.Price {
			t.Fatalf("%s offered %d and lost at %d", who, x, lot.Price)
		}
	}
	if offered[str(last.Leader)] < lot.Price {
		t.Fatalf("the leader offered %d, pays %d", offered[str(last.Leader)], lot.Price)
	}
}

// bidder is one goroutine of the property test: it bids at random (plain bids at or over the
// next valid amount, max bids, raises of its own max, too-low bids) and keeps its results.
func bidder(ctx context.Context, en *Engine, room, lotID, who string, seed uint64, stop <-chan struct{},
	results chan<- BidResult, errs chan<- error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	lot, err := en.Get(ctx, room, lotID)
	if err != nil {
		errs <- err
		return
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		min := lot.MinAmount
		step := StepAt(lot.Increments, min)
		r := BidRequest{Room: room, LotID: lotID, Subject: who, Name: "Bidder " + who}
		switch k := rng.IntN(10); {
		case k < 5:
			r.Amount = min + step*int64(rng.IntN(3))
		case k < 8:
			r.MaxAmount = min + step*int64(rng.IntN(6))
		case k < 9:
			r.Amount = max(1, min-1-int64(rng.IntN(int(step))))
		default:
			r.MaxAmount = lot.Price + step*int64(1+rng.IntN(8))
		}
		res, err := en.Bid(ctx, r)
		if err != nil {
			errs <- err
			return
		}
		results <- res
		if res.Code == CodeLotClosed {
			return
		}
		lot = res.Lot
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}
}

// runBidders runs n bidders on a lot (named prefix00…, seeded seed+i) until stop is closed
// (nil: until the lot closes). wait waits for them all, then closes results and errs.
func runBidders(ctx context.Context, en *Engine, room, lotID, prefix string, seed uint64, n int,
	stop <-chan struct{}) (results chan BidResult, errs chan error, wait func()) {
	results, errs = make(chan BidResult, 1<<16), make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bidder(ctx, en, room, lotID, fmt.Sprintf("%s%02d", prefix, i), seed+uint64(i), stop, results, errs)
		}()
	}
	return results, errs, func() {
		wg.Wait()
		close(results)
		close(errs)
	}
}

// checkResults: every accepted result is in the log once, as it was answered.
func checkResults(t *testing.T, results []BidResult, bids []Bid) {
	t.Helper()
	seen := map[int64]bool{}
	for _, r := range results {
		if r.Bid.N < 1 || r.Bid.N > int64(len(bids)) {
			t.Fatalf("result %+v not in the log of %d entries", r.Bid, len(bids))
		}
		if seen[r.Bid.N] {
			t.Fatalf("two requests answered with entry %d", r.Bid.N)
		}
		seen[r.Bid.N] = true
		if logged := bids[r.Bid.N-1]; !reflect.DeepEqual(logged, r.Bid) {
			t.Fatalf("answered %+v, logged %+v", r.Bid, logged)
		}
		if r.Accepted != (r.Code == "") || r.Accepted != r.Bid.Accepted {
			t.Fatalf("inconsistent result %+v", r)
		}
	}
	// every entry that is not a proxy answers exactly one request
	for _, b := range bids {
		if !b.Proxy && !seen[b.N] {
			t.Fatalf("log entry %d answers no request: %+v", b.N, b)
		}
	}
}

func TestPropertyConcurrentBids(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		var settled settledLog
		en := newEnv(t, b).engine("n1", 0, &settled)
		lot := openLot(t, en, "prop", LotInput{Title: "property", StartPrice: 0, DurationS: 600})

		stop := make(chan struct{})
		results, errs, wait := runBidders(ctx, en, "prop", lot.ID, "b", 0, 50, stop)
		// collect the answers while the bidders run, until 1.5 s and 300 accepted bids have passed
		var all []BidResult
		var accepted atomic.Int64
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			for r := range results {
				all = append(all, r)
				if r.Accepted {
					accepted.Add(1)
				}
			}
		}()
		begin := time.Now()
		waitFor(t, 60*time.Second, "300 accepted bids", func() bool {
			return time.Since(begin) >= 1500*time.Millisecond && accepted.Load() >= 300
		})
		close(stop)
		wait()
		<-collected
		for err := range errs {
			t.Fatal(err)
		}
		final := okLot(t)(en.End(ctx, "prop", lot.ID))
		bids, err := en.Bids(ctx, "prop", lot.ID)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d requests, %d accepted, %d log entries, final price %d", len(all), accepted.Load(), len(bids), final.Price)
		checkResults(t, all, bids)
		checkInvariants(t, final, bids)
		replay(t, final, bids)
		// the run went through every rule
		codes := map[string]int{}
		for _, b := range bids {
			switch {
			case b.Proxy:
				codes["proxy"]++
			case b.Accepted && b.MaxAmount > 0:
				codes["max"]++
			case b.Accepted:
				codes["plain"]++
			default:
				codes[b.Reason]++
			}
		}
		t.Logf("log entries by kind: %v", codes)
		for _, k := range []string{"proxy", "max", "plain", CodeTooLow} {
			if codes[k] == 0 {
				t.Fatalf("no %s entry in %d", k, len(bids))
			}
		}
		waitFor(t, 2*time.Second, "OnSettled", func() bool { return len(settled.get()) == 1 })
		if c := settled.get()[0]; !reflect.DeepEqual(c.bids, bids) || str(c.lot.Winner) != str(final.Leader) {
			t.Fatalf("OnSettled: winner %q, %d bids", str(c.lot.Winner), len(c.bids))
		}
	})
}

// TestBidsAtTheDeadline races bids against the end of a sudden-death lot: the settle and the
// bids are decided by the same clock in the same serial order, so no bid is accepted at or
// after ends_at, none accepted before it is lost, and the winner is the last accepted leader.
func TestBidsAtTheDeadline(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, b backend) {
		t.Parallel()
		ctx := context.Background()
		var settled settledLog
		en := newEnv(t, b).engine("n1", 0, &settled)
		open := openLot(t, en, "dl", LotInput{Title: "deadline", DurationS: 5, Mode: ModeSuddenDeath})
		// wake up 1 s before the end, by the server's clock
		time.Sleep(time.Duration(open.EndsAt-open.ServerTime-1000) * time.Millisecond)

		results, errs, wait := runBidders(ctx, en, "dl", open.ID, "d", 100, 20, nil)
		wait()
		for err := range errs {
			t.Fatal(err)
		}
		var all []BidResult
		for r := range results {
			all = append(all, r)
		}
		waitFor(t, 3*time.Second, "OnSettled", func() bool { return len(settled.get()) == 1 })
		final := settled.get()[0].lot
		bids, err := en.Bids(ctx, "dl", open.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, all, bids)
		checkInvariants(t, final, bids)
		replay(t, final, bids)
		firstClosed := int64(0)
		for _, b := range bids {
			switch {
			case b.Accepted && b.At >= final.EndsAt:
				t.Fatalf("entry %d accepted at %d, the lot ended at %d", b.N, b.At, final.EndsAt)
			case b.Accepted && firstClosed > 0:
				t.Fatalf("entry %d accepted after entry %d was refused as closed", b.N, firstClosed)
			case b.Reason == CodeLotClosed:
				if b.At < final.EndsAt {
					t.Fatalf("entry %d refused as closed at %d, before the end %d", b.N, b.At, final.EndsAt)
				}
				if firstClosed == 0 {
					firstClosed = b.N
				}
			}
		}
		if firstClosed == 0 || countAccepted(bids) == 0 {
			t.Fatalf("the bids did not straddle the deadline (%d entries)", len(bids))
		}
		if final.Status != StatusSold || final.EndedAt < final.EndsAt || len(settled.get()[0].bids) < int(firstClosed-1) {
			t.Fatalf("settled: %+v", final)
		}
		t.Logf("%d requests around the deadline, %d accepted; settled %d ms after ends_at",
			len(all), countAccepted(bids), final.EndedAt-final.EndsAt)
		time.Sleep(300 * time.Millisecond)
		if n := len(settled.get()); n != 1 {
			t.Fatalf("OnSettled %d times", n)
		}
	})
}

// TestClientClockSkew: clients send no time, the server's clock alone decides. A client whose
// clock is 5 s fast, one 5 s slow and an exact one show the same countdown from server_time and
// ends_at, and a bid counts when the server gets it before ends_at, whatever the client thinks.
func TestClientClockSkew(t *testing.T) {
	t.Parallel()
	for _, f := range reflect.VisibleFields(reflect.TypeFor[BidRequest]()) {
		if f.Type == reflect.TypeFor[time.Time]() || f.Name == "At" || f.Name == "Time" {
			t.Fatalf("BidRequest carries a client time: %s", f.Name)
		}
	}
	forEach(t, func(t *testing.T, b backend) {
		t.Parallel()
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		lot := openLot(t, en, "skew", LotInput{Title: "skew", DurationS: 5, Mode: ModeSuddenDeath})

		type client struct {
			skew   time.Duration
			offset int64 // server - client, learnt from server_time
		}
		clients := []*client{{skew: -5 * time.Second}, {skew: 0}, {skew: 5 * time.Second}}
		clock := func(c *client) int64 { return time.Now().Add(c.skew).UnixMilli() }
		countdown := func(c *client, l Lot) int64 { return l.EndsAt - (clock(c) + c.offset) }
		for _, c := range clients {
			l := okLot(t)(en.Get(ctx, "skew", lot.ID))
			c.offset = l.ServerTime - clock(c)
			if d := countdown(c, l) - (l.EndsAt - l.ServerTime); d < -50 || d > 50 {
				t.Fatalf("client skewed %v: countdown off by %d ms", c.skew, d)
			}
		}
		time.Sleep(300 * time.Millisecond)
		l := okLot(t)(en.Get(ctx, "skew", lot.ID))
		for _, c := range clients {
			if d := countdown(c, l) - (l.EndsAt - l.ServerTime); d < -50 || d > 50 {
				t.Fatalf("client skewed %v: countdown off by %d ms later", c.skew, d)
			}
		}
		// the fast client bids 1 s before the end: by its own clock the lot ended 4 s ago
		fast, slow := clients[2], clients[0]
		time.Sleep(time.Duration(l.EndsAt-l.ServerTime-1000) * time.Millisecond)
		if raw := clock(fast); raw < l.EndsAt+3500 {
			t.Fatalf("the fast client's clock (%d) is not past the end (%d)", raw, l.EndsAt)
		}
		if r := mustBid(t, en, BidRequest{Room: "skew", LotID: lot.ID, Subject: "fast", Amount: 100}); !r.Accepted {
			t.Fatalf("a bid before ends_at refused: %+v", r)
		}
		// the slow client bids 300 ms after the end: by its own clock 4.7 s are left
		time.Sleep(1300 * time.Millisecond)
		if raw := clock(slow); raw > l.EndsAt-4000 {
			t.Fatalf("the slow client's clock (%d) is not before the end (%d)", raw, l.EndsAt)
		}
		r := mustBid(t, en, BidRequest{Room: "skew", LotID: lot.ID, Subject: "slow", Amount: 5000})
		if r.Accepted || r.Code != CodeLotClosed || r.Bid.At < l.EndsAt {
			t.Fatalf("a bid after ends_at: %+v", r)
		}
	})
}
