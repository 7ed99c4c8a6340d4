package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rule
		bad  bool
	}{
		{"20,60", Rule{20, 60}, false},
		{"20/s,60", Rule{20, 60}, false},
		{"2.5", Rule{2.5, 3}, false},
		{"0.1", Rule{0.1, 1}, false},
		{"off", Rule{}, false},
		{"0", Rule{}, false},
		{"0,10", Rule{}, false},
		{"-1", Rule{}, true},
		{"ten", Rule{}, true},
		{"5,0", Rule{}, true},
		{"5,x", Rule{}, true},
		{"NaN", Rule{}, true},
		{"1e9", Rule{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRule(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("ParseRule(%q) = %+v, %v; want %+v, bad %v", tc.in, got, err, tc.want, tc.bad)
			}
			if err == nil && !got.Off() {
				again, _ := ParseRule(got.String())
				if again != got {
					t.Errorf("round trip %q → %+v", got.String(), again)
				}
			}
		})
	}
}

// clock is a settable time for the limiters.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKeyed(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	k := NewKeyed(Rule{Rate: 2, Burst: 3}, 0, c.now)
	for i := range 3 {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("4th event: %v, retry after %v (want refused, ≤ 0.5 s)", ok, wait)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key shares a's bucket")
	}
	c.add(wait)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("refused after the retry-after it was given")
	}
	if ok, _ := k.Allow("a"); ok {
		t.Fatal("a refused event took no token, yet the bucket refilled twice as fast")
	}
	var off *Keyed
	if ok, _ := off.Allow("x"); !ok {
		t.Fatal("a nil limiter refused")
	}
}

func TestKeyedBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	k := NewKeyed(Rule{Rate: 1, Burst: 1}, 100, c.now)
	for i := range 1000 {
		c.add(time.Millisecond)
		k.Allow("ip-" + strconv.Itoa(i))
		if k.Len() > 100 {
			t.Fatalf("%d keys remembered, max 100", k.Len())
		}
	}
	c.add(2 * idle)
	k.Allow("late")
	if k.Len() != 1 {
		t.Fatalf("%d keys after every other went idle, want 1", k.Len())
	}
}

func TestClientIP(t *testing.T) {
	lb, err := ParseProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies([]string{"not-an-ip"}); err == nil {
		t.Fatal("a bad proxy accepted")
	}
	for _, tc := range []struct {
		name, peer, xff string
		proxies         Proxies
		want            string
	}{
		{"no proxies: the peer", "203.0.113.9:5000", "198.51.100.1", Proxies{}, "203.0.113.9"},
		{"untrusted peer's header ignored", "203.0.113.9:5000", "198.51.100.1", lb, "203.0.113.9"},
		{"through the balancer", "10.1.2.3:5000", "198.51.100.1", lb, "198.51.100.1"},
		{"client's own entries ignored", "10.1.2.3:5000", "6.6.6.6, 198.51.100.1", lb, "198.51.100.1"},
		{"two trusted hops", "127.0.0.1:5000", "198.51.100.1, 10.9.9.9", lb, "198.51.100.1"},
		{"garbage stops the walk", "10.1.2.3:5000", "198.51.100.1, junk, 10.9.9.9", lb, "10.9.9.9"},
		{"no header: the proxy", "10.1.2.3:5000", "", lb, "10.1.2.3"},
		{"IPv6", "[2001:db8::1]:443", "", lb, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/x", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := tc.proxies.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	refused := map[string]int{}
	h := &HTTP{
		PerIP:   NewKeyed(Rule{Rate: 1, Burst: 3}, 0, c.now),
		PerUser: NewKeyed(Rule{Rate: 1, Burst: 2}, 0, c.now),
		User:    func(r *http.Request) string { return r.Header.Get("X-User") },
		Exempt:  func(r *http.Request) bool { return r.Header.Get("X-Node") != "" },
		Refused: func(by string) { refused[by]++ },
	}
	srv := h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	do := func(method, ip string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/api/rooms/r/chat", nil)
		r.RemoteAddr = ip + ":1234"
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	for range 10 {
		if w := do(http.MethodGet, "192.0.2.1"); w.Code != http.StatusNoContent {
			t.Fatalf("GET limited: %d", w.Code)
		}
	}
	// Per user: two writes, then 429 although the address has a token left.
	for i := range 2 {
		if w := do(http.MethodPost, "192.0.2.1", "X-User", "ann"); w.Code != http.StatusNoContent {
			t.Fatalf("write %d of ann: %d", i, w.Code)
		}
	}
	w := do(http.MethodPost, "192.0.2.1", "X-User", "ann")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("ann's third write: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	var body struct {
		Error      string `json:"error"`
		RetryAfter int    `json:"retry_after"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.RetryAfter != 1 {
		t.Fatalf("429 body %q (%v)", w.Body.String(), err)
	}
	// Per address: its third token went to ann's refused write; now it is empty.
	if w := do(http.MethodDelete, "192.0.2.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the address's 4th write: %d", w.Code)
	}
	if w := do(http.MethodPost, "192.0.2.2"); w.Code != http.StatusNoContent {
		t.Fatalf("another address: %d", w.Code)
	}
	if w := do(http.MethodPost, "192.0.2.1", "X-Node", "n2"); w.Code != http.StatusNoContent {
		t.Fatalf("an exempt request: %d", w.Code)
	}
	if refused["user"] != 1 || refused["ip"] != 1 {
		t.Errorf("refusals counted %v", refused)
	}
	c.add(2 * time.Second)
	if w := do(http.MethodPost, "192.0.2.1", "X-User", "ann"); w.Code != http.StatusNoContent {
		t.Fatalf("after the wait: %d", w.Code)
	}
}
