package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func chat(seq, at int64, text string) LiveEvent {
	d, _ := json.Marshal(map[string]any{"id": seq, "subject": "u1", "name": "Ann", "text": text, "at": at})
	return LiveEvent{Seq: seq, At: at, Kind: KindChat, Data: d}
}

func TestLiveEventsIdempotentAndRanges(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		evs := []LiveEvent{chat(1, 1000, "one"), chat(2, 2000, "two"), {Seq: 3, At: 3000, Kind: KindBid, Data: json.RawMessage(`{"lot_id":"L1"}`)}}
		if err := c.SaveLiveEvents(ctx, "shop", evs); err != nil {
			t.Fatal(err)
		}
		// Saved again (a catch-up read overlapping the live feed) plus one new: no duplicates, the
		// first version kept.
		again := append([]LiveEvent{chat(2, 2000, "changed")}, chat(4, 4000, "four"))
		if err := c.SaveLiveEvents(ctx, "shop", again); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveLiveEvents(ctx, "other", []LiveEvent{chat(1, 1500, "elsewhere")}); err != nil {
			t.Fatal(err)
		}
		all, err := c.LiveEvents(ctx, "shop", 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, e := range all {
			seqs = append(seqs, e.Seq)
		}
		if fmt.Sprint(seqs) != "[1 2 3 4]" {
			t.Fatalf("seqs %v, want [1 2 3 4]", seqs)
		}
		var two struct{ Text string }
		_ = json.Unmarshal(all[1].Data, &two)
		if two.Text != "two" || all[2].Kind != KindBid || all[0].At != 1000 {
			t.Fatalf("events %+v", all)
		}
		for _, tc := range []struct {
			from, to int64
			want     string
		}{{1000, 2000, "[1 2]"}, {1001, 3999, "[2 3]"}, {4001, 9000, "[]"}, {0, 999, "[]"}} {
			got, err := c.LiveEvents(ctx, "shop", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			seqs = seqs[:0]
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if s := fmt.Sprint(seqs); s != tc.want && !(tc.want == "[]" && len(seqs) == 0) {
				t.Errorf("range [%d, %d]: %v, want %s", tc.from, tc.to, seqs, tc.want)
			}
		}
		last, err := c.LastSeqs(ctx)
		if err != nil || last["shop"] != 4 || last["other"] != 1 || len(last) != 2 {
			t.Fatalf("last seqs %v %v", last, err)
		}
	})
}

func TestDeletedChatIsBlankedEitherOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		del := func(seq, id int64) LiveEvent {
			return LiveEvent{Seq: seq, At: seq * 1000, Kind: KindChatDeleted, Data: json.RawMessage(fmt.Sprintf(`{"id":%d,"by":"mod"}`, id))}
		}
		// Message 1 deleted in the same batch, message 2 deleted in a later batch, message 3's
		// deletion stored before the message itself (a catch-up filled the message in later).
		if err := c.SaveLiveEvents(ctx, "r", []LiveEvent{chat(1, 1000, "spam"), chat(2, 2000, "also spam"), del(3, 1), del(6, 5)}); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveLiveEvents(ctx, "r", []LiveEvent{chat(4, 4000, "fine"), del(7, 2)}); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveLiveEvents(ctx, "r", []LiveEvent{chat(5, 5000, "late spam")}); err != nil {
			t.Fatal(err)
		}
		got, err := c.LiveEvents(ctx, "r", 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Seq != 4 {
			t.Fatalf("events %+v, want only message 4", got)
		}
		if text := rawEventData(t, c, "r", 5); text != `{"id":5}` {
			t.Fatalf("deleted message kept %q, want only its id", text)
		}
	})
}

func TestLotsAndBids(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		bid := func(n int, amount int64) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"n":%d,"lot_id":"L1","subject":"u%d","name":"N%d","amount":%d,"accepted":true}`, n, n, n, amount))
		}
		opened := Lot{Room: "r", ID: "L1", Seq: 5, Title: "Lamp", Status: "open", Price: 1000, StartedAt: 10_000, Data: json.RawMessage(`{"id":"L1"}`)}
		if err := c.SaveLot(ctx, opened, nil); err != nil {
			t.Fatal(err)
		}
		sold := opened
		sold.Seq, sold.Status, sold.Price, sold.Winner, sold.WinnerName, sold.EndedAt = 9, "sold", 4500, "u2", "Ann", 70_000
		if err := c.SaveLot(ctx, sold, []json.RawMessage{bid(1, 1000), bid(2, 4500)}); err != nil {
			t.Fatal(err)
		}
		// An older state read again (catch-up) neither rolls the lot back nor duplicates bids.
		if err := c.SaveLot(ctx, opened, []json.RawMessage{bid(1, 1000), bid(2, 4500), bid(3, 5000)}); err != nil {
			t.Fatal(err)
		}
		l, err := c.GetLot(ctx, "r", "L1")
		if err != nil || l.Status != "sold" || l.Price != 4500 || l.WinnerName != "Ann" || l.EndedAt != 70_000 {
			t.Fatalf("lot %+v %v", l, err)
		}
		bids, err := c.LotBids(ctx, "r", "L1")
		if err != nil || len(bids) != 3 {
			t.Fatalf("bids %s %v", bids, err)
		}
		var b struct{ N, Amount int64 }
		_ = json.Unmarshal(bids[1], &b)
		if b.N != 2 || b.Amount != 4500 {
			t.Fatalf("bid 2 %s", bids[1])
		}
		if _, err := c.GetLot(ctx, "r", "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown lot: %v", err)
		}
		if err := c.SaveLot(ctx, Lot{Room: "r", ID: "L0", Seq: 1, Status: "cancelled"}, nil); err != nil {
			t.Fatal(err) // never opened: never a chapter
		}
		if err := c.SaveLot(ctx, Lot{Room: "r", ID: "L2", Seq: 12, Status: "open", StartedAt: 80_000}, nil); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			from, to int64
			want     string
		}{{0, 5_000, "[]"}, {0, 10_000, "[L1]"}, {70_000, 75_000, "[L1]"}, {70_001, 79_999, "[]"}, {60_000, 90_000, "[L1 L2]"}, {1_000_000, 2_000_000, "[L2]"}} {
			lots, err := c.LotsBetween(ctx, "r", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, l := range lots {
				ids = append(ids, l.ID)
			}
			if fmt.Sprint(ids) != tc.want {
				t.Errorf("lots in [%d, %d]: %v, want %s", tc.from, tc.to, ids, tc.want)
			}
		}
	})
}

func TestTimeline(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		start := time.UnixMilli(100_000).UTC()
		rec := Recording{ID: "rec", Room: "r", StartedAt: start, Status: StatusReady, Duration: 50}
		// Part 0 from 100 s wall (timeline 0..20 s), a reconnect pause of 10 s, part 1 from 130 s
		// wall continuing at timeline 20 s.
		for n, p := range []Part{{WallMs: 100_000, Start: 0}, {WallMs: 130_000, Start: 20}} {
			if err := c.SavePart(ctx, "rec", n, p); err != nil {
				t.Fatal(err)
			}
		}
		parts, err := c.Parts(ctx, "rec")
		if err != nil || len(parts) != 2 {
			t.Fatalf("parts %v %v", parts, err)
		}
		tl := NewTimeline(rec, parts)
		one := NewTimeline(rec, nil)
		for _, tc := range []struct {
			ms      int64
			want    float64
			wantOne float64
			why     string
		}{
			{90_000, 0, 0, "before the start"},
			{100_000, 0, 0, "the start"},
			{112_500, 12.5, 12.5, "part 0"},
			{125_000, 20, 25, "in the pause: where the video resumes"},
			{131_000, 21, 31, "part 1"},
			{500_000, 50, 50, "after the end: clamped to the duration"},
		} {
			if got := tl.At(tc.ms); got != tc.want {
				t.Errorf("%s: At(%d) = %v, want %v", tc.why, tc.ms, got, tc.want)
			}
			if got := one.At(tc.ms); got != tc.wantOne {
				t.Errorf("%s, one part: At(%d) = %v, want %v", tc.why, tc.ms, got, tc.wantOne)
			}
		}
	})
}

func TestShowTablesOnExistingDatabase(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		for range 2 { // opening twice runs the schema (the migrations) on an existing database
			c := open(t)
			if err := c.SaveLiveEvents(context.Background(), "r", []LiveEvent{chat(1, 1, "x")}); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}
	})
}

func TestDeleteShow(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := open(t)
		if err := c.SaveLiveEvents(ctx, "r", []LiveEvent{chat(1, 500, "before"), chat(2, 1500, "during"), chat(3, 2500, "after")}); err != nil {
			t.Fatal(err)
		}
		bid := []json.RawMessage{json.RawMessage(`{"n":1}`)}
		for _, l := range []Lot{
			{Room: "r", ID: "in", Seq: 1, Status: "sold", StartedAt: 1100, EndedAt: 1900},
			{Room: "r", ID: "across", Seq: 1, Status: "sold", StartedAt: 900, EndedAt: 1900},
			{Room: "other", ID: "in", Seq: 1, Status: "sold", StartedAt: 1100, EndedAt: 1900},
		} {
			if err := c.SaveLot(ctx, l, bid); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.SavePart(ctx, "rec", 0, Part{WallMs: 1000}); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteShow(ctx, "rec", "r", 1000, 2000); err != nil {
			t.Fatal(err)
		}
		evs, _ := c.LiveEvents(ctx, "r", 0, 1<<62)
		if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 3 {
			t.Errorf("events left %+v", evs)
		}
		for _, tc := range []struct {
			room, id string
			kept     bool
		}{{"r", "in", false}, {"r", "across", true}, {"other", "in", true}} {
			_, err := c.GetLot(ctx, tc.room, tc.id)
			bids, _ := c.LotBids(ctx, tc.room, tc.id)
			if (err == nil) != tc.kept || (len(bids) == 1) != tc.kept {
				t.Errorf("lot %s/%s: %v, %d bids; kept %v", tc.room, tc.id, err, len(bids), tc.kept)
			}
		}
		if parts, _ := c.Parts(ctx, "rec"); len(parts) != 0 {
			t.Errorf("parts left %v", parts)
		}
	})
}
