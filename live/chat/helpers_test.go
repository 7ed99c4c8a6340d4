package chat_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/live/stream"
)

// env is one test's chat on one Redis: the embedded miniredis or the real Redis of
// RELAYCAST_TEST_REDIS. Both run the same Service code and scripts; only advance differs.
type env struct {
	rdb    redis.UniversalClient
	prefix string
	params chat.Params
	log    *stream.Log
	svc    *chat.Service
	// advance lets d pass on the Redis clock: miniredis moves its TIME, real Redis is waited for.
	advance func(d time.Duration)
}

// backends runs f once on miniredis and, when RELAYCAST_TEST_REDIS is set, once on real Redis.
func backends(t *testing.T, p chat.Params, f func(t *testing.T, e *env)) {
	t.Run("miniredis", func(t *testing.T) {
		m, rdb := redistest.Mini(t)
		var mu sync.Mutex
		now := time.Now()
		adv := func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
			m.SetTime(now)
		}
		m.SetTime(now)
		f(t, newEnv(t, rdb, p, adv))
	})
	t.Run("redis", func(t *testing.T) {
		rdb := redistest.Real(t, redis.Options{})
		if rdb == nil {
			t.Skip("RELAYCAST_TEST_REDIS not set")
		}
		f(t, newEnv(t, rdb, p, func(d time.Duration) { time.Sleep(d) }))
	})
}

func newEnv(t testing.TB, rdb redis.UniversalClient, p chat.Params, adv func(time.Duration)) *env {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "chattest:" + hex.EncodeToString(b)
	l, svc := newNode(t, rdb, prefix, p)
	return &env{rdb: rdb, prefix: prefix, params: p, log: l, svc: svc, advance: adv}
}

// newNode is one node's stream Log and chat Service on rdb under prefix.
func newNode(t testing.TB, rdb redis.UniversalClient, prefix string, p chat.Params) (*stream.Log, *chat.Service) {
	t.Helper()
	l, err := stream.New(stream.Params{Redis: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	p.Redis, p.Log = rdb, l
	svc, err := chat.New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Close()
		_ = l.Close()
	})
	return l, svc
}

// node adds a second node sharing e's Redis and prefix (another server process).
func (e *env) node(t testing.TB) *chat.Service {
	_, svc := newNode(t, e.rdb, e.prefix, e.params)
	return svc
}

func (e *env) seq(t testing.TB, room string) int64 {
	t.Helper()
	n, err := e.log.Seq(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) history(t testing.TB, room string) []chat.Message {
	t.Helper()
	h, err := e.svc.History(context.Background(), room, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// events returns the room's events after seq after, oldest first.
func (e *env) events(t testing.TB, room string, after int64) []stream.Event {
	t.Helper()
	ev, err := e.log.After(context.Background(), room, after, 2000)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// lastEvent returns the room's newest event, failing when it is not of kind.
func (e *env) lastEvent(t testing.TB, room, kind string, into any) stream.Event {
	t.Helper()
	ev := e.events(t, room, 0)
	if len(ev) == 0 {
		t.Fatalf("no events in %s, want %s", room, kind)
	}
	last := ev[len(ev)-1]
	if last.Kind != kind {
		t.Fatalf("last event %s %s, want %s", last.Kind, last.Data, kind)
	}
	if into != nil {
		if err := json.Unmarshal(last.Data, into); err != nil {
			t.Fatal(err)
		}
	}
	return last
}

func user(subject string) chat.Sender { return chat.Sender{Subject: subject, Name: "User " + subject} }

func mustSend(t testing.TB, e *env, room string, from chat.Sender, text string) chat.Message {
	t.Helper()
	m, err := e.svc.Send(context.Background(), room, from, text)
	if err != nil {
		t.Fatalf("send %q as %s: %v", text, from.Subject, err)
	}
	return m
}
