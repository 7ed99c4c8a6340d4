package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/relaycast/relaycast/live/chat"
)

// 100 reactions from 10 viewers become one or a few reactions events whose counts sum to 100.
func TestReactionsAggregate(t *testing.T) {
	backends(t, chat.Params{FlushEvery: 200 * time.Millisecond}, func(t *testing.T, e *env) {
		events, cancel := e.log.Subscribe("rx")
		defer cancel()
		for v := range 10 {
			for i := range 10 {
				kind := "heart"
				if i%5 == 0 {
					kind = "fire"
				}
				if err := e.svc.React("rx", fmt.Sprint("v", v), kind); err != nil {
					t.Fatalf("react %d/%d: %v", v, i, err)
				}
			}
		}
		sum := map[string]int64{}
		n := 0
		deadline := time.After(5 * time.Second)
		for sum["heart"]+sum["fire"] < 100 {
			select {
			case ev := <-events:
				if ev.Kind != "reactions" {
					t.Fatalf("unexpected event %s", ev.Kind)
				}
				var d struct {
					Counts map[string]int64 `json:"counts"`
				}
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					t.Fatal(err)
				}
				for k, c := range d.Counts {
					sum[k] += c
				}
				n++
			case <-deadline:
				t.Fatalf("after 5 s: %v in %d events", sum, n)
			}
		}
		if sum["heart"] != 80 || sum["fire"] != 20 || len(sum) != 2 || n > 3 {
			t.Fatalf("summed %v in %d events, want heart 80 fire 20 in 1..3", sum, n)
		}
		// Nothing more is flushed while nobody reacts.
		seq := e.seq(t, "rx")
		time.Sleep(450 * time.Millisecond)
		if e.seq(t, "rx") != seq {
			t.Fatal("empty flush emitted")
		}
	})
}

func TestReactionLimits(t *testing.T) {
	backends(t, chat.Params{ReactRate: 10, FlushEvery: time.Hour}, func(t *testing.T, e *env) {
		for i := range 10 {
			if err := e.svc.React("rl", "v", "clap"); err != nil {
				t.Fatalf("react %d: %v", i, err)
			}
		}
		if err := e.svc.React("rl", "v", "clap"); !errors.Is(err, chat.ErrRateLimited) {
			t.Fatalf("11th reaction in a second: %v", err)
		}
		if err := e.svc.React("rl", "w", "wow"); err != nil {
			t.Fatalf("another viewer: %v", err)
		}
		if err := e.svc.React("other", "v", "laugh"); err != nil {
			t.Fatalf("same viewer, other room: %v", err)
		}
		time.Sleep(150 * time.Millisecond) // the bucket refills at 10/s
		if err := e.svc.React("rl", "v", "clap"); err != nil {
			t.Fatalf("after a refill: %v", err)
		}
		for _, k := range []string{"", "poop", "HEART"} {
			if err := e.svc.React("rl", "v", k); !errors.Is(err, chat.ErrInvalid) {
				t.Fatalf("kind %q: %v", k, err)
			}
		}
		if err := e.svc.React("bad room", "v", "heart"); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("bad room: %v", err)
		}
		// FlushEvery is an hour: Close flushes what is pending, once per room, and waits.
		if err := e.svc.Close(); err != nil {
			t.Fatal(err)
		}
		ev := e.lastEvent(t, "rl", "reactions", nil)
		if string(ev.Data) != `{"counts":{"clap":11,"wow":1}}` {
			t.Fatalf("flush on close: %s", ev.Data)
		}
		if e.seq(t, "rl") != 1 || e.seq(t, "other") != 1 {
			t.Fatalf("seqs %d %d, want one event each", e.seq(t, "rl"), e.seq(t, "other"))
		}
		if err := e.svc.React("rl", "v", "heart"); !errors.Is(err, chat.ErrClosed) {
			t.Fatalf("after close: %v", err)
		}
		if _, err := e.svc.Send(context.Background(), "rl", user("v"), "hi"); !errors.Is(err, chat.ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
	})
}
