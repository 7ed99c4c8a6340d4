package auction

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/live/stream"
)

// backend is a Redis the tests run against: always the embedded miniredis, and a real Redis
// when RELAYCAST_TEST_REDIS=host:port is set.
type backend struct {
	name string
	rdb  func(tb testing.TB) redis.UniversalClient
}

func backends() []backend {
	bs := []backend{{name: "miniredis", rdb: func(tb testing.TB) redis.UniversalClient {
		_, c := redistest.Mini(tb)
		return c
	}}}
	if os.Getenv(redistest.Env) != "" {
		bs = append(bs, backend{name: "redis", rdb: func(tb testing.TB) redis.UniversalClient {
			return redistest.Real(tb, redis.Options{PoolSize: 64})
		}})
	}
	return bs
}

// forEach runs f once per backend, as subtests.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// forEachEnv runs f in parallel once per backend, each with its own env.
func forEachEnv(t *testing.T, f func(t *testing.T, ctx context.Context, ev *env)) {
	t.Parallel()
	forEach(t, func(t *testing.T, b backend) {
		t.Parallel()
		f(t, context.Background(), newEnv(t, b))
	})
}

// env is one test's Redis with a fresh key prefix (tests on a real Redis do not meet).
type env struct {
	t      testing.TB
	rdb    redis.UniversalClient
	prefix string
}

func newEnv(tb testing.TB, b backend) *env {
	e := &env{t: tb, rdb: b.rdb(tb), prefix: "test-" + newID()}
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := e.rdb.Scan(ctx, 0, e.prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			e.rdb.Del(ctx, iter.Val())
		}
	})
	return e
}

// log is a new stream.Log (one per node, like the server's).
func (e *env) log() *stream.Log {
	l, err := stream.New(stream.Params{Redis: e.rdb, Prefix: e.prefix})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = l.Close() })
	return l
}

// settledLog records OnSettled calls.
type settledLog struct {
	mu    sync.Mutex
	calls []settledCall
}

type settledCall struct {
	node string
	lot  Lot
	bids []Bid
}

func (s *settledLog) hook(node string) func(Lot, []Bid) {
	return func(l Lot, b []Bid) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls = append(s.calls, settledCall{node, l, b})
	}
}

func (s *settledLog) get() []settledCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]settledCall(nil), s.calls...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// engine is a new Engine on e with its own stream.Log, closed at the end of the test.
func (e *env) engine(node string, ttl time.Duration, s *settledLog) *Engine {
	p := Params{Redis: e.rdb, Log: e.log(), NodeID: node, LeaseTTL: ttl}
	if s != nil {
		p.OnSettled = s.hook(node)
	}
	en, err := New(p)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = en.Close() })
	return en
}

// okLot(t)(en.Start(…)) fails the test on an error.
func okLot(t testing.TB) func(Lot, error) Lot {
	return func(l Lot, err error) Lot {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

// openLot creates a lot in room and starts it; it returns the started lot.
func openLot(t testing.TB, en *Engine, room string, in LotInput) Lot {
	t.Helper()
	ctx := context.Background()
	lot := okLot(t)(en.Create(ctx, room, in))
	return okLot(t)(en.Start(ctx, room, lot.ID))
}

// acceptBid bids and fails the test unless the bid is accepted.
func acceptBid(t testing.TB, en *Engine, r BidRequest) BidResult {
	t.Helper()
	res := mustBid(t, en, r)
	if !res.Accepted {
		t.Fatalf("bid %+v refused: %+v", r, res)
	}
	return res
}

func mustBid(t testing.TB, en *Engine, r BidRequest) BidResult {
	t.Helper()
	res, err := en.Bid(context.Background(), r)
	if err != nil {
		t.Fatalf("bid %+v: %v", r, err)
	}
	return res
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// bidEvent is the data of a "bid" event.
type bidEvent struct {
	LotID string `json:"lot_id"`
	Bid   Bid    `json:"bid"`
	Lot   Lot    `json:"lot"`
}

// collect drains ch into a slice until stop is closed.
type collector struct {
	mu     sync.Mutex
	events []stream.Event
	done   chan struct{}
}

func collect(ch <-chan stream.Event) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev := range ch {
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) get() []stream.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]stream.Event(nil), c.events...)
}

func (c *collector) kinds() []string {
	var k []string
	for _, e := range c.get() {
		k = append(k, e.Kind)
	}
	return k
}

func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return v
}
