package auction

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ev := newEnv(t, b)
		var settled settledLog
		en := ev.engine("n1", 0, &settled)
		events := collect(must(en.p.Log.Subscribe("shop")))

		lot := okLot(t)(en.Create(ctx, "shop", LotInput{Title: `Lamp <b>"x"</b>`, Description: "brass\nold",
			ImageURL: "https://img.example/1.jpg", StartPrice: 2500, DurationS: 60}))
		if lot.Status != StatusQueued || lot.Price != 2500 || lot.MinAmount != 2500 || lot.Leader != nil ||
			lot.EndsAt != 0 || lot.ServerTime == 0 || lot.CreatedAt == 0 || lot.Room != "shop" ||
			lot.Title != `Lamp <b>"x"</b>` || lot.Description != "brass\nold" || len(lot.ID) != 10 ||
			!reflect.DeepEqual(lot.Increments, DefaultIncrements()) || lot.Mode != ModeStandard {
			t.Fatalf("created: %+v", lot)
		}
		if r := mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u1", Name: "U1", Amount: 2500}); r.Accepted || r.Code != CodeNotOpen {
			t.Fatalf("bid on a queued lot: %+v", r)
		}
		if cur, err := en.Current(ctx, "shop"); err != nil || cur != nil {
			t.Fatalf("current before start: %v %v", cur, err)
		}
		open := okLot(t)(en.Start(ctx, "shop", lot.ID))
		if open.Status != StatusOpen || open.EndsAt != open.StartedAt+60_000 || open.ServerTime < open.StartedAt {
			t.Fatalf("started: %+v", open)
		}
		if _, err := en.Start(ctx, "shop", lot.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("start twice: %v", err)
		}
		other := okLot(t)(en.Create(ctx, "shop", LotInput{Title: "second", DurationS: 30}))
		if _, err := en.Start(ctx, "shop", other.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("start a second lot while one is open: %v", err)
		}
		if cur, err := en.Current(ctx, "shop"); err != nil || cur == nil || cur.ID != lot.ID {
			t.Fatalf("current: %v %v", cur, err)
		}

		r := mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u1", Name: "U1", Amount: 2400})
		if r.Accepted || r.Code != CodeTooLow || r.MinAmount != 2500 || r.Bid.Reason != CodeTooLow || r.Bid.N != 2 {
			t.Fatalf("too low: %+v", r)
		}
		r = mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u1", Name: "U1", Amount: 2500})
		if !r.Accepted || r.Code != "" || r.Lot.Price != 2500 || str(r.Lot.Leader) != "u1" || r.Lot.LeaderName != "U1" ||
			r.MinAmount != 2600 || r.Lot.MinAmount != 2600 || r.Lot.BidCount != 1 || r.Bid.N != 3 || r.Bid.At < open.StartedAt {
			t.Fatalf("first bid: %+v", r)
		}
		if r := mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u1", Name: "U1", Amount: 5000}); r.Code != CodeAlreadyLeading {
			t.Fatalf("leader bids again: %+v", r)
		}
		r = mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u2", Name: "U2", Amount: 3100})
		if !r.Accepted || r.Lot.Price != 3100 || str(r.Lot.Leader) != "u2" || r.MinAmount != 3300 {
			t.Fatalf("second bidder: %+v", r)
		}
		if _, err := en.Cancel(ctx, "shop", lot.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancel after a bid: %v", err)
		}
		got := okLot(t)(en.Get(ctx, "shop", lot.ID))
		if got.Price != 3100 || got.BidCount != 2 || got.ServerTime < r.Lot.ServerTime {
			t.Fatalf("get: %+v", got)
		}

		sold := okLot(t)(en.End(ctx, "shop", lot.ID))
		if sold.Status != StatusSold || str(sold.Winner) != "u2" || sold.WinnerName != "U2" || sold.Price != 3100 ||
			sold.EndedAt == 0 || sold.EndsAt > sold.EndedAt {
			t.Fatalf("ended: %+v", sold)
		}
		if _, err := en.End(ctx, "shop", lot.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("end twice: %v", err)
		}
		if r := mustBid(t, en, BidRequest{Room: "shop", LotID: lot.ID, Subject: "u3", Amount: 9000}); r.Code != CodeLotClosed {
			t.Fatalf("bid after the end: %+v", r)
		}
		waitFor(t, 2*time.Second, "OnSettled", func() bool { return len(settled.get()) == 1 })
		call := settled.get()[0]
		if call.lot.ID != lot.ID || call.lot.Status != StatusSold || len(call.bids) != 5 || call.node != "n1" {
			t.Fatalf("OnSettled: %+v", call)
		}

		bids, err := en.Bids(ctx, "shop", lot.ID)
		if err != nil || len(bids) != 6 {
			t.Fatalf("bids: %v %v", len(bids), err)
		}
		wantCodes := []string{CodeNotOpen, CodeTooLow, "", CodeAlreadyLeading, "", CodeLotClosed}
		for i, c := range wantCodes {
			if bids[i].N != int64(i+1) || bids[i].Reason != c || bids[i].Accepted != (c == "") {
				t.Fatalf("log entry %d: %+v, want reason %q", i, bids[i], c)
			}
		}
		list, err := en.List(ctx, "shop")
		if err != nil || len(list) != 2 || list[0].ID != lot.ID || list[1].ID != other.ID {
			t.Fatalf("list: %+v %v", list, err)
		}
		// the room is free again
		okLot(t)(en.Start(ctx, "shop", other.ID))
		okLot(t)(en.End(ctx, "shop", other.ID))
		waitFor(t, 2*time.Second, "the unsold lot settled", func() bool { return len(settled.get()) == 2 })
		if l := settled.get()[1].lot; l.Status != StatusUnsold || l.Winner != nil {
			t.Fatalf("unsold: %+v", l)
		}

		// created, started, created, 2 bids, sold, started, unsold
		waitFor(t, 2*time.Second, "events", func() bool { return len(events.get()) >= 8 })
		if kinds := strings.Join(events.kinds(), " "); kinds != "lot lot lot bid bid lot lot lot" {
			t.Fatalf("events: %s", kinds)
		}
		evs := events.get()
		for i := 1; i < len(evs); i++ {
			if evs[i].Seq != evs[i-1].Seq+1 {
				t.Fatalf("event seqs not consecutive: %d then %d", evs[i-1].Seq, evs[i].Seq)
			}
		}
		be := decode[bidEvent](t, evs[3].Data)
		if be.LotID != lot.ID || be.Bid.Amount != 2500 || be.Lot.Price != 2500 || be.Bid.MaxAmount != 0 {
			t.Fatalf("bid event: %+v", be)
		}
		if l := decode[Lot](t, evs[5].Data); l.Status != StatusSold {
			t.Fatalf("sold event: %+v", l)
		}
	})
}

func must[A, B any](a A, b B) A { return a }

func TestCancel(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		q := okLot(t)(en.Create(ctx, "r", LotInput{Title: "queued", DurationS: 60}))
		if c := okLot(t)(en.Cancel(ctx, "r", q.ID)); c.Status != StatusCancelled || c.EndedAt == 0 {
			t.Fatalf("cancel queued: %+v", c)
		}
		if _, err := en.Start(ctx, "r", q.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("start cancelled: %v", err)
		}
		if _, err := en.Cancel(ctx, "r", q.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancel twice: %v", err)
		}
		o := okLot(t)(en.Create(ctx, "r", LotInput{Title: "open", DurationS: 60}))
		okLot(t)(en.Start(ctx, "r", o.ID))
		mustBid(t, en, BidRequest{Room: "r", LotID: o.ID, Subject: "x", Amount: 1}) // too low: not a bid
		if c := okLot(t)(en.Cancel(ctx, "r", o.ID)); c.Status != StatusCancelled {
			t.Fatalf("cancel open before a bid: %+v", c)
		}
		if r := mustBid(t, en, BidRequest{Room: "r", LotID: o.ID, Subject: "x", Amount: 500}); r.Code != CodeLotClosed {
			t.Fatalf("bid on cancelled: %+v", r)
		}
		// the room may open its next lot
		w := okLot(t)(en.Create(ctx, "r", LotInput{Title: "with a bid", DurationS: 60}))
		okLot(t)(en.Start(ctx, "r", w.ID))
		if r := mustBid(t, en, BidRequest{Room: "r", LotID: w.ID, Subject: "x", Amount: 100}); !r.Accepted {
			t.Fatalf("bid: %+v", r)
		}
		if _, err := en.Cancel(ctx, "r", w.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancel after a bid: %v", err)
		}
		if l := okLot(t)(en.Get(ctx, "r", w.ID)); l.Status != StatusOpen {
			t.Fatalf("a refused cancel changed the lot: %+v", l)
		}
	})
}

func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		if _, err := en.Create(ctx, "r", LotInput{Title: "x", DurationS: 1}); !errors.Is(err, ErrInvalid) ||
			!strings.Contains(err.Error(), "duration_s") {
			t.Fatalf("bad duration: %v", err)
		}
		for _, room := range []string{"", "-x", "a}b", "a:b", "a b", strings.Repeat("r", 65), "caf\u00e9"} {
			if _, err := en.Create(ctx, room, LotInput{Title: "x", DurationS: 10}); !errors.Is(err, ErrInvalid) ||
				!strings.Contains(err.Error(), "room") {
				t.Fatalf("room %q: %v", room, err)
			}
			if _, err := en.Bid(ctx, BidRequest{Room: room, LotID: "abc", Subject: "s", Amount: 1}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("bid in room %q: %v", room, err)
			}
		}
		if l, _ := en.List(ctx, "r"); len(l) != 0 {
			t.Fatalf("a refused create left a lot: %+v", l)
		}
		for _, id := range []string{"nosuchlot0", "../../x", "a:b", "", "x}y"} {
			if _, err := en.Get(ctx, "r", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("get %q: %v", id, err)
			}
			if _, err := en.Start(ctx, "r", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("start %q: %v", id, err)
			}
			if _, err := en.Bids(ctx, "r", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("bids %q: %v", id, err)
			}
		}
		if _, err := en.Bid(ctx, BidRequest{Room: "r", LotID: "nosuchlot0", Subject: "s", Amount: 100}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bid on no lot: %v", err)
		}
		l := okLot(t)(en.Create(ctx, "r", LotInput{Title: "x", DurationS: 10}))
		okLot(t)(en.Start(ctx, "r", l.ID))
		if _, err := en.Bid(ctx, BidRequest{Room: "r", LotID: l.ID, Subject: "s", Amount: 100, MaxAmount: 500}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("both amounts: %v", err)
		}
		if bids, _ := en.Bids(ctx, "r", l.ID); len(bids) != 0 {
			t.Fatalf("an invalid request was logged: %+v", bids)
		}
		if _, err := en.End(ctx, "r", l.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProxyBids(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		events := collect(must(en.p.Log.Subscribe("r")))
		l := okLot(t)(en.Create(ctx, "r", LotInput{Title: "proxy", StartPrice: 1000, DurationS: 60}))
		okLot(t)(en.Start(ctx, "r", l.ID))
		bid := func(who string, amount, max int64) BidResult {
			return mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: who, Name: strings.ToUpper(who), Amount: amount, MaxAmount: max})
		}
		expect := func(r BidResult, accepted bool, code string, price int64, leader string) {
			t.Helper()
			if r.Accepted != accepted || r.Code != code || r.Lot.Price != price || str(r.Lot.Leader) != leader {
				t.Fatalf("got accepted=%v code=%q price=%d leader=%q, want %v %q %d %q (%+v)",
					r.Accepted, r.Code, r.Lot.Price, str(r.Lot.Leader), accepted, code, price, leader, r)
			}
		}
		expect(bid("a", 0, 5000), true, "", 1000, "a") // opening max bid: price stays at the start price
		expect(bid("b", 2000, 0), true, "", 2100, "a") // a's max answers: one increment over 2000
		expect(bid("b", 0, 5000), true, "", 5000, "a") // equal maxima: the earlier keeps the lead
		expect(bid("b", 0, 9000), true, "", 5500, "b") // b over a's max: one increment over 5000
		expect(bid("b", 6000, 0), false, CodeAlreadyLeading, 5500, "b")
		expect(bid("b", 0, 8000), false, CodeAlreadyLeading, 5500, "b") // not above the own max
		r := bid("b", 0, 12000)                                         // the leader raises the max
		expect(r, true, "", 5500, "b")
		if r.Bid.MaxAmount != 12000 || r.Bid.Amount != 5500 {
			t.Fatalf("raise entry: %+v", r.Bid)
		}
		expect(bid("a", 5900, 0), false, CodeTooLow, 5500, "b")
		expect(bid("a", 11950, 0), true, "", 12000, "b") // b's max answers, capped at the max
		expect(bid("a", 13000, 0), true, "", 13000, "a") // a plain bid over b's max takes the lead at its amount
		if r := bid("c", 0, 14500); r.Lot.Price != 14000 || str(r.Lot.Leader) != "c" || r.MinAmount != 15000 {
			t.Fatalf("c: %+v", r)
		}

		bids, err := en.Bids(ctx, "r", l.ID)
		if err != nil {
			t.Fatal(err)
		}
		replay(t, l, bids)
		var proxies int
		for _, b := range bids {
			if b.Proxy {
				proxies++
				if !b.Accepted || b.MaxAmount != 0 {
					t.Fatalf("proxy entry: %+v", b)
				}
			}
		}
		if proxies != 3 {
			t.Fatalf("%d proxy entries, want 3", proxies)
		}
		// events: every accepted entry is a bid event, in log order, and none shows a max
		waitFor(t, 2*time.Second, "events", func() bool { return len(events.get()) >= 2+countAccepted(bids) })
		var n int64
		for _, e := range events.get() {
			if e.Kind != "bid" {
				continue
			}
			be := decode[bidEvent](t, e.Data)
			if be.Bid.N <= n || !be.Bid.Accepted {
				t.Fatalf("bid events out of order: %d after %d", be.Bid.N, n)
			}
			n = be.Bid.N
			if strings.Contains(string(e.Data), "max_amount") {
				t.Fatalf("a bid event shows a max: %s", e.Data)
			}
		}
		_, _ = en.End(ctx, "r", l.ID)
	})
}

func countAccepted(bids []Bid) int {
	n := 0
	for _, b := range bids {
		if b.Accepted {
			n++
		}
	}
	return n
}

func TestAntiSniping(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		events := collect(must(en.p.Log.Subscribe("r")))
		// a 5 s lot whose window (10 s) covers all of it: every bid extends, to now + 8 s, twice
		l := okLot(t)(en.Create(ctx, "r", LotInput{Title: "snipe", DurationS: 5, ExtendWindowS: 10, ExtendToS: 8, MaxExtensions: 2}))
		open := okLot(t)(en.Start(ctx, "r", l.ID))
		r1 := mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: "a", Amount: 100})
		if r1.Lot.Extensions != 1 || r1.Lot.EndsAt != r1.Bid.At+8000 || r1.Lot.EndsAt <= open.EndsAt {
			t.Fatalf("first extension: %+v", r1.Lot)
		}
		time.Sleep(20 * time.Millisecond)
		r2 := mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: "b", Amount: 200})
		if r2.Lot.Extensions != 2 || r2.Lot.EndsAt != r2.Bid.At+8000 {
			t.Fatalf("second extension: %+v", r2.Lot)
		}
		r3 := mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: "a", Amount: 300})
		if !r3.Accepted || r3.Lot.Extensions != 2 || r3.Lot.EndsAt != r2.Lot.EndsAt {
			t.Fatalf("the cap: %+v", r3.Lot)
		}
		// created, started, bid + extended, bid + extended, bid
		waitFor(t, 2*time.Second, "events", func() bool { return len(events.get()) >= 7 })
		if k := strings.Join(events.kinds(), " "); k != "lot lot bid lot bid lot bid" {
			t.Fatalf("events: %s", k)
		}
		if l := decode[Lot](t, events.get()[3].Data); l.Extensions != 1 || l.EndsAt != r1.Lot.EndsAt {
			t.Fatalf("extension event: %+v", l)
		}
		_, _ = en.End(ctx, "r", l.ID)

		// extend_to shorter than what is left: no extension
		l2 := okLot(t)(en.Create(ctx, "r", LotInput{Title: "late window", DurationS: 8, ExtendWindowS: 10, ExtendToS: 2}))
		okLot(t)(en.Start(ctx, "r", l2.ID))
		if r := mustBid(t, en, BidRequest{Room: "r", LotID: l2.ID, Subject: "a", Amount: 100}); r.Lot.Extensions != 0 {
			t.Fatalf("extended to an earlier end: %+v", r.Lot)
		}
		_, _ = en.End(ctx, "r", l2.ID)

		// sudden death: never
		sd := okLot(t)(en.Create(ctx, "r", LotInput{Title: "sudden", DurationS: 5, Mode: ModeSuddenDeath, ExtendWindowS: 10, ExtendToS: 30}))
		s := okLot(t)(en.Start(ctx, "r", sd.ID))
		for i, who := range []string{"a", "b", "a"} {
			r := mustBid(t, en, BidRequest{Room: "r", LotID: sd.ID, Subject: who, Amount: int64(100 * (i + 1))})
			if !r.Accepted || r.Lot.Extensions != 0 || r.Lot.EndsAt != s.EndsAt {
				t.Fatalf("sudden death extended: %+v", r.Lot)
			}
		}
		_, _ = en.End(ctx, "r", sd.ID)

		// unlimited extensions (max_extensions 0)
		u := okLot(t)(en.Create(ctx, "r", LotInput{Title: "unlimited", DurationS: 5, ExtendWindowS: 10, ExtendToS: 9}))
		okLot(t)(en.Start(ctx, "r", u.ID))
		for i := range 5 {
			who := []string{"a", "b"}[i%2]
			r := mustBid(t, en, BidRequest{Room: "r", LotID: u.ID, Subject: who, Amount: int64(100 * (i + 1))})
			if r.Lot.Extensions != i+1 {
				t.Fatalf("bid %d: extensions %d", i, r.Lot.Extensions)
			}
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = en.End(ctx, "r", u.ID)
	})
}

func TestClosedEngine(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		en := newEnv(t, b).engine("n1", 0, nil)
		_ = en.Close()
		if _, err := en.Create(context.Background(), "r", LotInput{Title: "x", DurationS: 10}); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}

func TestCustomIncrements(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		en := newEnv(t, b).engine("n1", 0, nil)
		table := []Increment{{UpTo: 1000, Step: 50}, {UpTo: 0, Step: 250}}
		l := okLot(t)(en.Create(ctx, "r", LotInput{Title: "custom", StartPrice: 900, Increments: table, DurationS: 60}))
		if !reflect.DeepEqual(l.Increments, table) {
			t.Fatalf("increments: %+v", l.Increments)
		}
		if _, err := en.End(ctx, "r", l.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("end a queued lot: %v", err)
		}
		okLot(t)(en.Start(ctx, "r", l.ID))
		steps := []struct {
			who             string
			amount, wantMin int64
		}{{"a", 900, 950}, {"b", 950, 1000}, {"a", 1000, 1250}, {"b", 1300, 1550}}
		for _, s := range steps {
			r := mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: s.who, Amount: s.amount})
			if !r.Accepted || r.MinAmount != s.wantMin {
				t.Fatalf("%s %d: %+v", s.who, s.amount, r)
			}
		}
		if r := mustBid(t, en, BidRequest{Room: "r", LotID: l.ID, Subject: "a", Amount: 1549}); r.Code != CodeTooLow || r.MinAmount != 1550 {
			t.Fatalf("too low: %+v", r)
		}
		_, _ = en.End(ctx, "r", l.ID)
	})
}
