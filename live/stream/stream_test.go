package stream

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
)

// redises lists the Redis servers to test against: miniredis (the embedded default) always,
// a real Redis when RELAYCAST_TEST_REDIS is set (database 13, flushed).
func redises(t *testing.T) map[string]redis.UniversalClient {
	t.Helper()
	out := map[string]redis.UniversalClient{}
	_, out["miniredis"] = redistest.Mini(t)
	if rc := redistest.Real(t, redis.Options{DB: 13}); rc != nil {
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("real redis: %v", err)
		}
		out["redis"] = rc
	}
	return out
}

func newLog(t *testing.T, rdb redis.UniversalClient, p Params) *Log {
	t.Helper()
	p.Redis = rdb
	if p.Channel == "" {
		p.Channel = "relaycast:live:test:" + t.Name()
	}
	l, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return Event{}
}

func TestEmitOrderAndHistory(t *testing.T) {
	for name, rdb := range redises(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := newLog(t, rdb, Params{Keep: 50})
			ch, stop := l.Subscribe("shop1")
			defer stop()
			all, stopAll := l.SubscribeAll()
			defer stopAll()
			const n = 40
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					if _, err := l.Emit(ctx, "shop1", "chat", map[string]any{"i": i, "text": `<b>"hi"</b> ünï`}); err != nil {
						t.Error(err)
					}
				}(i)
			}
			wg.Wait()
			before := time.Now().UnixMilli()
			for want := int64(1); want <= n; want++ {
				e := next(t, ch)
				if e.Seq != want || e.Room != "shop1" || e.Kind != "chat" {
					t.Fatalf("event %d = %+v", want, e)
				}
				var d struct{ Text string }
				if err := json.Unmarshal(e.Data, &d); err != nil || d.Text != `<b>"hi"</b> ünï` {
					t.Fatalf("data %s: %v", e.Data, err)
				}
				if e.At < before-60_000 || e.At > before+60_000 {
					t.Fatalf("at = %d, now %d: not server milliseconds", e.At, before)
				}
				if a := next(t, all); a.Seq != want {
					t.Fatalf("SubscribeAll got seq %d, want %d", a.Seq, want)
				}
			}
			if s, _ := l.Seq(ctx, "shop1"); s != n {
				t.Fatalf("Seq = %d", s)
			}
			got, err := l.After(ctx, "shop1", 35, 0)
			if err != nil || len(got) != 5 || got[0].Seq != 36 || got[4].Seq != 40 {
				t.Fatalf("After(35) = %v, %v", got, err)
			}
			if got, err := l.After(ctx, "shop1", 40, 0); err != nil || len(got) != 0 {
				t.Fatalf("After(40) = %v, %v", got, err)
			}
			last, err := l.Last(ctx, "shop1", 3)
			if err != nil || len(last) != 3 || last[2].Seq != 40 {
				t.Fatalf("Last = %v, %v", last, err)
			}
			// Only the last 50 are kept: 60 more events push the first 50 out.
			for i := 0; i < 60; i++ {
				if _, err := l.Emit(ctx, "shop1", "lot", map[string]int{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.After(ctx, "shop1", 10, 0); !errors.Is(err, ErrGap) {
				t.Fatalf("After(10) with the log at 51..100: err = %v, want ErrGap", err)
			}
			if got, err := l.After(ctx, "shop1", 50, 0); err != nil || len(got) != 50 {
				t.Fatalf("After(50) = %d events, %v", len(got), err)
			}
			if s, _ := l.Seq(ctx, "other"); s != 0 {
				t.Fatalf("Seq of a room without events = %d", s)
			}
		})
	}
}

// TestLostMessageIsFilled: an event whose pub/sub message never arrived (a reconnect) is
// delivered from the log before the next one, so subscribers see no gap.
func TestLostMessageIsFilled(t *testing.T) {
	for name, rdb := range redises(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := newLog(t, rdb, Params{})
			ch, stop := l.Subscribe("r")
			defer stop()
			if _, err := l.Emit(ctx, "r", "chat", 1); err != nil {
				t.Fatal(err)
			}
			next(t, ch)
			// Event 2 is sequenced and logged but its message is lost (published elsewhere).
			silent := newLog(t, rdb, Params{Channel: "nowhere"})
			if _, err := silent.Emit(ctx, "r", "chat", 2); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Emit(ctx, "r", "chat", 3); err != nil {
				t.Fatal(err)
			}
			for _, want := range []int64{2, 3} {
				if e := next(t, ch); e.Seq != want {
					t.Fatalf("got seq %d, want %d", e.Seq, want)
				}
			}
		})
	}
}

// TestSlowSubscriberDropped: a subscriber that does not read is dropped; the others get every event.
func TestSlowSubscriberDropped(t *testing.T) {
	rdb := redises(t)["miniredis"]
	ctx := context.Background()
	l := newLog(t, rdb, Params{Buffer: 8})
	slow, stopSlow := l.Subscribe("r")
	defer stopSlow()
	fast, stopFast := l.Subscribe("r")
	defer stopFast()
	done := make(chan int64)
	go func() {
		var last int64
		for e := range fast {
			last = e.Seq
			if last == 30 {
				break
			}
		}
		done <- last
	}()
	for i := 0; i < 30; i++ {
		if _, err := l.Emit(ctx, "r", "chat", i); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case last := <-done:
		if last != 30 {
			t.Fatalf("fast subscriber ended at %d", last)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fast subscriber was held up")
	}
	n := 0
	for range slow {
		n++
	}
	if n != 8 {
		t.Fatalf("slow subscriber got %d buffered events before its channel closed, want 8", n)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	rdb := redises(t)["miniredis"]
	l, err := New(Params{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := l.Subscribe("r")
	_ = l.Close()
	stop()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
	if _, err := l.Emit(context.Background(), "r", "chat", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}
