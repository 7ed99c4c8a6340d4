package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/webhook"
)

const secret = "whsec-test-0123456789abcdef"

// eachRedis runs fn against the embedded miniredis and, with RELAYCAST_TEST_REDIS=host:port, a
// real Redis (database 14, flushed first): the same code path on both.
func eachRedis(t *testing.T, fn func(t *testing.T, opt asynq.RedisConnOpt)) {
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		fn(t, asynq.RedisClientOpt{Addr: m.Addr()})
	})
	t.Run("redis", func(t *testing.T) {
		addr := os.Getenv("RELAYCAST_TEST_REDIS")
		if addr == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal("RELAYCAST_TEST_REDIS is not set (scripts/test.sh starts redis-server)")
			}
			t.Skip("RELAYCAST_TEST_REDIS not set (the miniredis variant ran)")
		}
		opt := asynq.RedisClientOpt{Addr: addr, DB: 14}
		rdb := redis.NewClient(&redis.Options{Addr: addr, DB: 14})
		defer rdb.Close()
		if err := rdb.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		fn(t, opt)
	})
}

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP endpoint on loopback that records every request and answers with
// status(n) for the n-th (from 1).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	status func(n int) int
	got    chan struct{}
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status, got: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits = append(r.hits, hit{header: req.Header.Clone(), body: body, at: time.Now()})
		n := len(r.hits)
		st := r.status
		r.mu.Unlock()
		code := http.StatusOK
		if st != nil {
			code = st(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "ok")
		r.got <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setStatus(f func(n int) int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func (r *receiver) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// wait waits until the receiver got n requests in all.
func (r *receiver) wait(t *testing.T, n int, d time.Duration) []hit {
	t.Helper()
	deadline := time.After(d)
	for len(r.all()) < n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("receiver got %d requests in %s, want %d", len(r.all()), d, n)
		}
	}
	return r.all()
}

// quiet checks that the receiver gets no more than n requests during d.
func (r *receiver) quiet(t *testing.T, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	if got := len(r.all()); got != n {
		t.Fatalf("receiver got %d requests, want exactly %d", got, n)
	}
}

// fast are Params with short timings: retries after 100, 200, 400 … ms (capped at 1 s; asynq
// rounds retry times down to whole seconds, so they come sooner), polls
// every 50 ms, loopback allowed (the receivers are httptest servers).
func fast(opt asynq.RedisConnOpt, urls ...string) webhook.Params {
	return webhook.Params{
		Redis: opt, URLs: urls, Secret: secret, AllowPrivate: true, Logger: testLogger(),
		RetryDelay:   func(n int) time.Duration { return min(time.Second, 100*time.Millisecond<<min(n, 4)) },
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: 2 * time.Second, Timeout: 2 * time.Second,
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("RELAYCAST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newSender(t *testing.T, p webhook.Params) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func send(t *testing.T, s *webhook.Sender, typ, id string, data any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Send(ctx, typ, id, data); err != nil {
		t.Fatal(err)
	}
}

// counts reads relaycast_webhook_deliveries_total by result.
func counts(t *testing.T, s *webhook.Sender) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "relaycast_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// taskState is the asynq state of event id's delivery to url ("" when there is no such task).
func taskState(t *testing.T, opt asynq.RedisConnOpt, id, url string) (string, string) {
	t.Helper()
	ins := asynq.NewInspector(opt)
	defer ins.Close()
	info, err := ins.GetTaskInfo(webhook.Queue, webhook.TaskID(id, url))
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return "", ""
		}
		t.Fatal(err)
	}
	return info.State.String(), info.LastErr
}

func waitState(t *testing.T, opt asynq.RedisConnOpt, id, url, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, lastErr := taskState(t, opt, id, url)
		if st == want {
			return lastErr
		}
		if time.Now().After(deadline) {
			t.Fatalf("task state %q (last error %q), want %q", st, lastErr, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
