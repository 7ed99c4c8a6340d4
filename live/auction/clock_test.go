package auction

// Clock faults (docs/AUCTION.md "Which clock decides", docs/RELIABILITY.md "Clock faults"): a
// node whose wall clock steps ±5 s mid-lot ends no lot early or late. The system clock is never
// touched: the node's wall clock is a seam of the embedded Redis (transcode.EmbeddedParams.Now),
// the Redis host's clock a miniredis SetTime.

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/transcode"
)

// stepClock is a wall clock the test steps.
type stepClock struct{ off atomic.Int64 }

func (c *stepClock) Now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *stepClock) step(d time.Duration) { c.off.Add(int64(d)) }

// timedEvent is an event with the monotonic time it reached the test (a client).
type timedEvent struct {
	at time.Time
	ev stream.Event
}

type timedCollector struct {
	mu     sync.Mutex
	events []timedEvent
}

func collectTimed(ch <-chan stream.Event) *timedCollector {
	c := &timedCollector{}
	go func() {
		for ev := range ch {
			c.mu.Lock()
			c.events = append(c.events, timedEvent{time.Now(), ev})
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *timedCollector) get() []timedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]timedEvent(nil), c.events...)
}

// clockRun is one lot of the clock scenario: what the test saw, in monotonic time.
type clockRun struct {
	started, stepped time.Time // the Start answer; the step
	plannedEnd       time.Time // by the Start answer's countdown
	extendedEnd      time.Time // by the late bid's answer's countdown
	settledAt        time.Time // OnSettled was called
	settled          Lot
	events           []timedEvent
}

// end is when a lot answered at `at` says it ends, in monotonic time: the countdown a client
// shows is ends_at - server_time from the moment the lot arrived.
func end(at time.Time, l Lot) time.Time {
	return at.Add(time.Duration(l.EndsAt-l.ServerTime) * time.Millisecond)
}

// runClockLot runs a 6 s lot (anti-sniping: a bid with < 2 s left extends to 3 s) started on
// owner, steps the clock (step) 2 s in, has middle run (if any) 3 s in, bids through bidder
// 1 s before the planned end, and waits for the settlement. The assertions are the caller's.
func runClockLot(t *testing.T, owner, bidder *Engine, log *stream.Log, room string, settled <-chan time.Time,
	step func(), middle func()) clockRun {
	t.Helper()
	ctx := context.Background()
	events, unsub := log.Subscribe(room)
	defer unsub()
	col := collectTimed(events)
	lot := okLot(t)(owner.Create(ctx, room, LotInput{Title: "clock", DurationS: 6, ExtendWindowS: 2, ExtendToS: 3}))
	lot = okLot(t)(owner.Start(ctx, room, lot.ID))
	var r clockRun
	r.started = time.Now()
	r.plannedEnd = end(r.started, lot)
	time.Sleep(2 * time.Second)
	r.stepped = time.Now()
	step()
	time.Sleep(500 * time.Millisecond)
	got := okLot(t)(bidder.Get(ctx, room, lot.ID))
	if d := end(time.Now(), got).Sub(r.plannedEnd); got.Status != StatusOpen || d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("0.5 s after the step the lot is %s, its countdown ends %v off the plan", got.Status, d)
	}
	if middle != nil {
		time.Sleep(500 * time.Millisecond)
		middle()
	}
	time.Sleep(time.Until(r.plannedEnd.Add(-time.Second)))
	res := mustBid(t, bidder, BidRequest{Room: room, LotID: lot.ID, Subject: "late", Name: "Late", Amount: got.MinAmount})
	answered := time.Now()
	if !res.Accepted || res.Lot.Extensions != 1 || res.Lot.EndsAt != res.Lot.ServerTime+3000 {
		t.Fatalf("the bid 1 s before the planned end: accepted %v (%s), extensions %d, ends_at - server_time %d ms (want 3000)",
			res.Accepted, res.Code, res.Lot.Extensions, res.Lot.EndsAt-res.Lot.ServerTime)
	}
	r.extendedEnd = end(answered, res.Lot)
	select {
	case r.settledAt = <-settled:
	case <-time.After(15 * time.Second):
		t.Fatal("the lot did not settle")
	}
	r.settled = okLot(t)(bidder.Get(ctx, room, lot.ID))
	time.Sleep(100 * time.Millisecond) // the settlement's event
	r.events = col.get()
	return r
}

// checkOnTime: the lot settled within ±200 ms of its extended end, sold to the late bidder,
// and every lot a client got (the events, in order) counted down to the end planned then.
func checkOnTime(t *testing.T, r clockRun) {
	t.Helper()
	if d := r.extendedEnd.Sub(r.plannedEnd); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Errorf("the late bid extended the lot by %v, want 2 s (to 3 s from the bid)", d)
	}
	if d := r.settledAt.Sub(r.extendedEnd); d < -200*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("settled %v from its planned end (want within ±200 ms)", d)
	} else {
		t.Logf("settled %v after its planned end (%v after the start)", d.Round(time.Millisecond), r.settledAt.Sub(r.started).Round(time.Millisecond))
	}
	if r.settled.Status != StatusSold || str(r.settled.Winner) != "late" || r.settled.EndedAt < r.settled.EndsAt ||
		r.settled.EndedAt-r.settled.EndsAt > 200 {
		t.Errorf("settled lot: %s, winner %q, ended_at - ends_at %d ms", r.settled.Status, str(r.settled.Winner), r.settled.EndedAt-r.settled.EndsAt)
	}
	var open, bids int
	var last int64
	for _, te := range r.events {
		var l Lot
		switch te.ev.Kind {
		case "lot":
			l = decode[Lot](t, te.ev.Data)
		case "bid":
			l = decode[bidEvent](t, te.ev.Data).Lot
			bids++
		default:
			continue
		}
		if l.ServerTime < last {
			t.Errorf("server_time went back: %d after %d", l.ServerTime, last)
		}
		last = l.ServerTime
		if l.Status != StatusOpen {
			continue
		}
		open++
		want := r.plannedEnd
		if l.Extensions > 0 {
			want = r.extendedEnd
		}
		if d := end(te.at, l).Sub(want); d < -100*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("event %d (%s, %v after the start): the countdown ends %v off the plan", te.ev.Seq, te.ev.Kind, te.at.Sub(r.started), d)
		}
	}
	if open < 3 || bids != 1 {
		t.Errorf("got %d open-lot events and %d bid events (want start, bid, extension; one bid)", open, bids)
	}
}

// settledHook sends the monotonic time of each OnSettled call.
func settledHook() (func(Lot, []Bid), chan time.Time) {
	ch := make(chan time.Time, 4)
	return func(Lot, []Bid) { ch <- time.Now() }, ch
}

func clockEngine(t *testing.T, rdb redis.UniversalClient, log *stream.Log, node string, hook func(Lot, []Bid)) *Engine {
	t.Helper()
	en, err := New(Params{Redis: rdb, Log: log, NodeID: node, OnSettled: hook})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = en.Close() })
	return en
}

// TestNodeClockStepEmbedded: the single-node default (the embedded Redis, built as serve builds
// it, with the node's wall clock a seam): the node's clock steps +5 s, or -5 s, 2 s into a 6 s
// lot; the lot still ends on time (±200 ms), a bid 1 s before the end is accepted and extends
// it, and the countdown every client gets is the one planned (ends_at - server_time).
func TestNodeClockStepEmbedded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		step time.Duration
	}{{"forward", 5 * time.Second}, {"backward", -5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var clk stepClock
			e, err := transcode.StartEmbeddedWith(transcode.EmbeddedParams{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			// as server.openRedis: an asynq option made into the node's one client
			rdb := asynq.RedisClientOpt{Addr: e.Addr()}.MakeRedisClient().(redis.UniversalClient)
			t.Cleanup(func() { _ = rdb.Close() })
			log, err := stream.New(stream.Params{Redis: rdb, Prefix: stream.DefaultPrefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = log.Close() })
			hook, settled := settledHook()
			en := clockEngine(t, rdb, log, "node", hook)
			r := runClockLot(t, en, en, log, "clock", settled, func() { clk.step(tc.step) }, nil)
			if d := e.Time().Sub(clk.Now()); d > -tc.step+time.Second || d < -tc.step-time.Second {
				t.Errorf("the embedded Redis's clock is %v off the stepped node clock (want about %v)", d, -tc.step)
			}
			checkOnTime(t, r)
		})
	}
}

// TestNodeClockStepRealRedis: with a Redis of its own (redis-server, as --redis-url), two nodes:
// A starts the lot and owns its timer, B takes the bids; mid-lot A hands its timer over (Close)
// and B's takes over. The nodes read no wall clock at all (TestEngineReadsNoWallClock), so
// there is nothing of theirs to step: the same assertions hold, by Redis's clock alone.
func TestNodeClockStepRealRedis(t *testing.T) {
	t.Parallel()
	addr, _ := redistest.Own(t)
	rdb := asynq.RedisClientOpt{Addr: addr}.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	logA, err := stream.New(stream.Params{Redis: rdb, Prefix: stream.DefaultPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logA.Close() })
	logB, err := stream.New(stream.Params{Redis: rdb, Prefix: stream.DefaultPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logB.Close() })
	hook, settled := settledHook()
	a := clockEngine(t, rdb, logA, "A", hook)
	b := clockEngine(t, rdb, logB, "B", hook)
	r := runClockLot(t, a, b, logB, "clock", settled, func() {}, func() { _ = a.Close() })
	checkOnTime(t, r)
}

// TestRedisClockStep: what a step of the clock that decides (the Redis host's; here a
// miniredis whose TIME follows SetTime, kept current every millisecond) does to a 6 s lot 2 s
// in: +5 s ends it early — at the owner's next tick, 3–4 s before its time —, -5 s ends it 5 s
// late. This is why the Redis host should slew its clock (NTP), never step it.
func TestRedisClockStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		step time.Duration
	}{{"forward", 5 * time.Second}, {"backward", -5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := miniredis.RunT(t)
			var off atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the Redis host's clock, stepped by off
				defer wg.Done()
				tk := time.NewTicker(time.Millisecond)
				defer tk.Stop()
				for {
					m.SetTime(time.Now().Add(time.Duration(off.Load())))
					select {
					case <-stop:
						return
					case <-tk.C:
					}
				}
			}()
			t.Cleanup(func() { close(stop); wg.Wait() })
			rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			log, err := stream.New(stream.Params{Redis: rdb, Prefix: "step"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = log.Close() })
			hook, settled := settledHook()
			en := clockEngine(t, rdb, log, "node", hook)
			ctx := context.Background()
			lot := okLot(t)(en.Create(ctx, "r", LotInput{Title: "step", DurationS: 6}))
			lot = okLot(t)(en.Start(ctx, "r", lot.ID))
			planned := end(time.Now(), lot)
			time.Sleep(2 * time.Second)
			off.Add(int64(tc.step))
			var at time.Time
			select {
			case at = <-settled:
			case <-time.After(15 * time.Second):
				t.Fatal("the lot did not settle")
			}
			d := at.Sub(planned)
			t.Logf("a Redis clock step of %v 2 s into a 6 s lot: it settled %v from its planned end", tc.step, d.Round(time.Millisecond))
			if tc.step > 0 && (d > -2500*time.Millisecond || d < -4200*time.Millisecond) {
				t.Errorf("settled %v from its planned end: want 2.5–4.2 s early", d)
			}
			if tc.step < 0 && (d < 4800*time.Millisecond || d > 5200*time.Millisecond) {
				t.Errorf("settled %v from its planned end: want 5 s late", d)
			}
		})
	}
}

// TestEngineReadsNoWallClock: the engine's and the event stream's Go code (the node side of an
// auction) never reads the wall clock: no time.Now, Since, Until, Unix…, Date, Parse. Their
// only times are Redis's (TIME in the scripts) and durations (timers, context deadlines), which
// Go measures on the monotonic clock. So a step of a node's clock decides nothing.
func TestEngineReadsNoWallClock(t *testing.T) {
	banned := map[string]bool{"Now": true, "Since": true, "Until": true, "Unix": true, "UnixMilli": true,
		"UnixMicro": true, "Date": true, "Parse": true, "ParseInLocation": true}
	for _, dir := range []string{".", "../stream"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			fs := token.NewFileSet()
			file, err := parser.ParseFile(fs, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			timePkg := ""
			for _, im := range file.Imports {
				if im.Path.Value == `"time"` {
					timePkg = "time"
					if im.Name != nil {
						timePkg = im.Name.Name
					}
				}
			}
			if timePkg == "" {
				continue
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == timePkg && banned[sel.Sel.Name] {
						t.Errorf("%s: time.%s reads the wall clock", fs.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
		if checked == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
	}
}
