package stream

import (
	"context"
	"sync"
	"testing"
	"time"
)

// collect subscribes fn-style and records every hand-off.
type collect struct {
	mu    sync.Mutex
	calls [][]int64
	n     int
	done  chan struct{}
	want  int
}

func (c *collect) fn(events []Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	seqs := make([]int64, len(events))
	for i, e := range events {
		seqs[i] = e.Seq
	}
	c.calls = append(c.calls, seqs)
	if c.n += len(events); c.n >= c.want {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
	return true
}

// TestSubscribeFuncBatches: a burst of a room's events reaches a SubscribeFunc subscriber in a
// few hand-offs (not one per event), the first at once, every event once and in order; with
// Batch < 0 each event is its own hand-off.
func TestSubscribeFuncBatches(t *testing.T) {
	for name, rdb := range redises(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				batch time.Duration
			}{{"default", 0}, {"off", -1}} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					l := newLog(t, rdb, Params{Batch: tc.batch, Channel: "relaycast:live:test:" + t.Name()})
					room := "batch-" + tc.name
					const n = 30
					c := &collect{done: make(chan struct{}), want: n}
					stop := l.SubscribeFunc(room, c.fn)
					defer stop()
					ch, stopCh := l.Subscribe(room)
					defer stopCh()
					for i := 0; i < n; i++ {
						if _, err := l.Emit(ctx, room, "chat", map[string]any{"i": i}); err != nil {
							t.Fatal(err)
						}
					}
					for i := 0; i < n; i++ {
						next(t, ch) // channel subscribers get each event at once, as before
					}
					select {
					case <-c.done:
					case <-time.After(5 * time.Second):
						t.Fatal("not every event was handed over")
					}
					c.mu.Lock()
					defer c.mu.Unlock()
					var seqs []int64
					for _, call := range c.calls {
						seqs = append(seqs, call...)
					}
					first := seqs[0]
					for i, s := range seqs {
						if s != first+int64(i) {
							t.Fatalf("hand-offs %v: not every event once and in order", c.calls)
						}
					}
					if len(seqs) != n {
						t.Fatalf("%d events handed over, want %d", len(seqs), n)
					}
					if len(c.calls[0]) != 1 {
						t.Errorf("first hand-off %v: the first event after a quiet spell should go at once, alone", c.calls[0])
					}
					t.Logf("%d events in %d hand-offs", n, len(c.calls))
					if tc.batch < 0 && len(c.calls) != n {
						t.Errorf("Batch < 0: %d hand-offs for %d events, want one each", len(c.calls), n)
					}
					if tc.batch == 0 && len(c.calls) >= n/2 {
						t.Errorf("default Batch: %d hand-offs for %d events emitted back to back, want far fewer", len(c.calls), n)
					}
				})
			}
		})
	}
}

// TestPromptKindsGoAtOnce: during a cool-down, an event of a prompt kind is handed over at once
// with the events waiting before it; the ones after it wait for the cool-down's end.
func TestPromptKindsGoAtOnce(t *testing.T) {
	for name, rdb := range redises(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := newLog(t, rdb, Params{Batch: 2 * time.Second, Prompt: func(kind string) bool { return kind == "bid" }})
			room := "prompt"
			c := &collect{done: make(chan struct{}), want: 10}
			stop := l.SubscribeFunc(room, c.fn)
			defer stop()
			ch, stopCh := l.Subscribe(room)
			defer stopCh()
			for i := 1; i <= 10; i++ {
				kind := "chat"
				if i == 6 {
					kind = "bid"
				}
				if _, err := l.Emit(ctx, room, kind, map[string]any{"i": i}); err != nil {
					t.Fatal(err)
				}
				next(t, ch) // each is received before the next is emitted
			}
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Fatal("not every event was handed over")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			want := [][]int64{{1}, {2, 3, 4, 5, 6}, {7, 8, 9, 10}}
			if len(c.calls) != len(want) {
				t.Fatalf("hand-offs %v, want %v", c.calls, want)
			}
			for i := range want {
				if len(c.calls[i]) != len(want[i]) || c.calls[i][0] != want[i][0] || c.calls[i][len(want[i])-1] != want[i][len(want[i])-1] {
					t.Fatalf("hand-offs %v, want %v", c.calls, want)
				}
			}
		})
	}
}
