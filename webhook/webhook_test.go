package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/webhook"
)

// A delivery carries the documented headers, and its signature verifies over the exact body
// bytes with a plain HMAC-SHA256 (as a receiver computes it, independent of webhook.Sign).
func TestSignatureAndHeaders(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		a, b := newReceiver(t, nil), newReceiver(t, nil)
		s := newSender(t, fast(opt, a.URL+"/hook?shop=1", b.URL))
		before := time.Now().UnixMilli()
		data := map[string]any{"id": "lot1", "room": "shop", "price": 4200, "winner": "user-7", "title": "Vase <1920> & co"}
		send(t, s, webhook.TypeLotWon, "lot.won:lot1", data)

		for name, r := range map[string]*receiver{"a": a, "b": b} {
			h := r.wait(t, 1, 10*time.Second)[0]
			for k, want := range map[string]string{
				"Content-Type": "application/json", "User-Agent": "relaycast-webhook/1",
				"X-Relaycast-Event": "lot.won", "X-Relaycast-Delivery": "lot.won:lot1", "Idempotency-Key": "lot.won:lot1",
			} {
				if got := h.header.Get(k); got != want {
					t.Errorf("%s: %s = %q, want %q", name, k, got, want)
				}
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(h.body)
			want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
			if got := h.header.Get("X-Relaycast-Signature"); got != want {
				t.Errorf("%s: signature %q, want %q over the body %s", name, got, want, h.body)
			}
			if !webhook.Verify(secret, h.body, h.header.Get("X-Relaycast-Signature")) {
				t.Errorf("%s: webhook.Verify refuses the delivery", name)
			}
			tampered := append([]byte(nil), h.body...)
			tampered[len(tampered)-2] ^= 1
			if webhook.Verify(secret, tampered, h.header.Get("X-Relaycast-Signature")) {
				t.Errorf("%s: a changed body verifies", name)
			}
			var body struct {
				ID        string         `json:"id"`
				Type      string         `json:"type"`
				CreatedAt int64          `json:"created_at"`
				Data      map[string]any `json:"data"`
			}
			if err := json.Unmarshal(h.body, &body); err != nil {
				t.Fatalf("%s: body %s: %v", name, h.body, err)
			}
			if body.ID != "lot.won:lot1" || body.Type != "lot.won" || body.Data["winner"] != "user-7" ||
				body.Data["price"] != float64(4200) || body.Data["title"] != "Vase <1920> & co" {
				t.Errorf("%s: body %s", name, h.body)
			}
			if body.CreatedAt < before || body.CreatedAt > time.Now().UnixMilli() {
				t.Errorf("%s: created_at %d not in [%d, now]", name, body.CreatedAt, before)
			}
		}
		waitState(t, opt, "lot.won:lot1", a.URL+"/hook?shop=1", "completed", 5*time.Second)
		waitState(t, opt, "lot.won:lot1", b.URL, "completed", 5*time.Second)
		if c := counts(t, s); c["delivered"] != 2 || c["failed"] != 0 || c["gave_up"] != 0 {
			t.Errorf("counts %v", c)
		}
	})
}

// 500s are retried with backoff until a 2xx; every attempt sends the same bytes and signature.
func TestRetriesUntilSuccess(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, func(n int) int {
			if n <= 3 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		p := fast(opt, r.URL)
		var mu sync.Mutex
		var ns []int
		p.RetryDelay = func(n int) time.Duration {
			mu.Lock()
			ns = append(ns, n)
			mu.Unlock()
			if n == 2 {
				return 2 * time.Second
			}
			return 100 * time.Millisecond
		}
		s := newSender(t, p)
		send(t, s, webhook.TypeRoomLive, "room.live:shop:1", map[string]string{"room": "shop"})
		hits := r.wait(t, 4, 20*time.Second)
		for i, h := range hits[1:] {
			if string(h.body) != string(hits[0].body) || h.header.Get("X-Relaycast-Signature") != hits[0].header.Get("X-Relaycast-Signature") {
				t.Errorf("attempt %d differs from the first: %s", i+2, h.body)
			}
		}
		// The backoff is Params.RetryDelay of the retry count (asynq keeps retry times in whole
		// seconds, so a delay of 2 s waits at least 1 s).
		waitState(t, opt, "room.live:shop:1", r.URL, "completed", 5*time.Second)
		r.quiet(t, 4, 500*time.Millisecond)
		mu.Lock()
		if len(ns) != 3 || ns[0] != 0 || ns[1] != 1 || ns[2] != 2 {
			t.Errorf("RetryDelay called with %v, want [0 1 2]", ns)
		}
		mu.Unlock()
		if gap := hits[3].at.Sub(hits[2].at); gap < time.Second {
			t.Errorf("gap before attempt 4 = %s, want >= 1s", gap)
		}
		if c := counts(t, s); c["failed"] != 3 || c["delivered"] != 1 {
			t.Errorf("counts %v", c)
		}
		waitState(t, opt, "room.live:shop:1", r.URL, "completed", 5*time.Second)
	})
}

// A receiver that does not answer within Timeout fails the attempt; the next one delivers.
func TestAttemptTimeout(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		release := make(chan struct{})
		var once sync.Once
		r := newReceiver(t, func(n int) int {
			if n == 1 {
				<-release // hangs until the test ends
			}
			return http.StatusOK
		})
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		p := fast(opt, r.URL)
		p.Timeout = 300 * time.Millisecond
		s := newSender(t, p)
		send(t, s, webhook.TypeRoomEnded, "room.ended:shop:1", map[string]string{"room": "shop"})
		r.wait(t, 2, 10*time.Second)
		waitState(t, opt, "room.ended:shop:1", r.URL, "completed", 5*time.Second)
		if c := counts(t, s); c["failed"] != 1 || c["delivered"] != 1 {
			t.Errorf("counts %v", c)
		}
		once.Do(func() { close(release) })
	})
}

// 410 Gone stops at once: no retry, the task is archived.
func TestGoneStops(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, func(int) int { return http.StatusGone })
		s := newSender(t, fast(opt, r.URL))
		send(t, s, webhook.TypeLotEnded, "lot.ended:l1", map[string]string{"id": "l1"})
		r.wait(t, 1, 10*time.Second)
		lastErr := waitState(t, opt, "lot.ended:l1", r.URL, "archived", 5*time.Second)
		r.quiet(t, 1, time.Second) // several retry delays: nothing more
		if !strings.Contains(lastErr, "410") {
			t.Errorf("last error %q", lastErr)
		}
		if c := counts(t, s); c["gave_up"] != 1 || c["failed"] != 0 || c["delivered"] != 0 {
			t.Errorf("counts %v", c)
		}
	})
}

// The same event id is delivered once: sent twice, sent again after delivery, and sent by a
// second node (another Sender on the same Redis) at the same time.
func TestSameIDDeliveredOnce(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, nil)
		s1 := newSender(t, fast(opt, r.URL))
		s2 := newSender(t, fast(opt, r.URL))
		var wg sync.WaitGroup
		for _, s := range []*webhook.Sender{s1, s2, s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Send(context.Background(), webhook.TypeRecordingReady, "recording.ready:r1", map[string]string{"id": "r1"}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		r.wait(t, 1, 10*time.Second)
		waitState(t, opt, "recording.ready:r1", r.URL, "completed", 5*time.Second)
		send(t, s1, webhook.TypeRecordingReady, "recording.ready:r1", map[string]string{"id": "r1", "again": "yes"})
		r.quiet(t, 1, 800*time.Millisecond)
		// Another id is another event.
		send(t, s2, webhook.TypeRecordingReady, "recording.ready:r2", map[string]string{"id": "r2"})
		r.wait(t, 2, 10*time.Second)
		r.quiet(t, 2, 300*time.Millisecond)
	})
}

// Without AllowPrivate, deliveries to loopback, private and link-local addresses are refused when
// the connection is dialed (before any packet: 10.0.0.1 is never contacted), also for a name
// that resolves to one (localhost), and given up.
func TestPrivateAddressRefused(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, nil)
		byName := strings.Replace(r.URL, "127.0.0.1", "localhost", 1)
		urls := []string{"http://10.0.0.1:9/hook", "http://169.254.169.254/latest", r.URL, byName}
		p := fast(opt, urls...)
		p.AllowPrivate = false
		s := newSender(t, p)
		send(t, s, webhook.TypeLotWon, "lot.won:x", map[string]string{"id": "x"})
		for _, u := range urls {
			lastErr := waitState(t, opt, "lot.won:x", u, "archived", 10*time.Second)
			if !strings.Contains(lastErr, "address not allowed") {
				t.Errorf("%s: last error %q", u, lastErr)
			}
		}
		r.quiet(t, 0, 300*time.Millisecond)
		if c := counts(t, s); c["gave_up"] != 4 || c["delivered"] != 0 {
			t.Errorf("counts %v", c)
		}
	})
}

// A queued delivery survives the sender: Close while it is waiting for its retry, New on the
// same Redis, and it is delivered.
func TestRestartDeliversQueued(t *testing.T) {
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
		p := fast(opt, r.URL)
		p.RetryDelay = func(int) time.Duration { return 500 * time.Millisecond }
		s, err := webhook.New(p)
		if err != nil {
			t.Fatal(err)
		}
		send(t, s, webhook.TypeLotWon, "lot.won:restart", map[string]string{"id": "restart"})
		r.wait(t, 1, 10*time.Second)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), webhook.TypeLotWon, "lot.won:late", nil); !errors.Is(err, webhook.ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
		st, _ := taskState(t, opt, "lot.won:restart", r.URL)
		if st != "retry" && st != "pending" {
			t.Fatalf("after Close the delivery is %q, want retry", st)
		}
		n := len(r.all())
		r.setStatus(func(int) int { return http.StatusOK })
		time.Sleep(700 * time.Millisecond) // past the retry time: no Sender runs
		if got := len(r.all()); got != n {
			t.Fatalf("a closed sender delivered (%d requests, had %d)", got, n)
		}
		s2 := newSender(t, p)
		r.wait(t, n+1, 10*time.Second)
		waitState(t, opt, "lot.won:restart", r.URL, "completed", 5*time.Second)
		if c := counts(t, s2); c["delivered"] != 1 {
			t.Errorf("counts of the new sender %v", c)
		}
	})
}

func TestParams(t *testing.T) {
	ok := func(p *webhook.Params) {}
	tests := []struct {
		name   string
		mutate func(*webhook.Params)
		want   string
	}{
		{"ok", ok, ""},
		{"no redis", func(p *webhook.Params) { p.Redis = nil }, "no Redis"},
		{"no url", func(p *webhook.Params) { p.URLs = nil }, "no URL"},
		{"ftp", func(p *webhook.Params) { p.URLs = []string{"ftp://shop.example/hook"} }, "not an http(s) URL"},
		{"no host", func(p *webhook.Params) { p.URLs = []string{"https:///hook"} }, "not an http(s) URL"},
		{"password redacted", func(p *webhook.Params) { p.URLs = []string{"gopher://u:hunter2@x"} }, "xxxxx"},
		{"short secret", func(p *webhook.Params) { p.Secret = "short" }, "at least 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fast(asynq.RedisClientOpt{Addr: miniredis.RunT(t).Addr()}, "https://shop.example/hook")
			tt.mutate(&p)
			s, err := webhook.New(p)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				return
			}
			if !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
	if _, err := webhook.New(fast(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, "https://shop.example/hook")); err == nil {
		t.Error("New with an unreachable Redis succeeded")
	}
	// Bad sends change nothing.
	eachRedis(t, func(t *testing.T, opt asynq.RedisConnOpt) {
		r := newReceiver(t, nil)
		s := newSender(t, fast(opt, r.URL))
		for _, c := range []struct{ typ, id string }{{"", "x"}, {"lot.won", ""}, {"lot.won", "a\r\nX-Evil: 1"}, {"lot.won", strings.Repeat("x", 300)}, {"lot.won", "caf\u00e9"}, {"lot.won", "a\tb"}} {
			if err := s.Send(context.Background(), c.typ, c.id, nil); !errors.Is(err, webhook.ErrInvalid) {
				t.Errorf("Send(%q, %q) = %v, want ErrInvalid", c.typ, c.id, err)
			}
		}
		if err := s.Send(context.Background(), "lot.won", "y", func() {}); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("unmarshalable data: %v", err)
		}
		r.quiet(t, 0, 300*time.Millisecond)
	})
}

func TestDefaultRetryDelay(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
	for n, w := range want {
		if got := webhook.DefaultRetryDelay(n); got != w {
			t.Errorf("n=%d: %s, want %s", n, got, w)
		}
	}
	if got := webhook.DefaultRetryDelay(9); got != 2560*time.Second {
		t.Errorf("n=9: %s", got)
	}
	for _, n := range []int{10, 11, 12, 40} {
		if got := webhook.DefaultRetryDelay(n); got != time.Hour {
			t.Errorf("n=%d: %s, want 1h", n, got)
		}
	}
}
