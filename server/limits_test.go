package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
)

// TestWriteLimits: the node's write limits with real requests. Per address: the chat POSTs of a
// client (refused for want of a token or not) pass until its burst is spent, then 429 with
// Retry-After and a JSON error — behind a trusted balancer, per client of X-Forwarded-For; per
// user: one subject's writes from many addresses; a relay token (another node) is not limited;
// reads never are; /metrics counts the refusals.
func TestWriteLimits(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.RateLimitIP, c.RateLimitUser, c.TrustedProxies = "0.5,3", "0.5,2", []string{"127.0.0.1"}
	})
	postTo := func(path, from, tok string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(`{"text":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Retry-After"), string(b)
	}
	post := func(from, tok string) (int, string, string) { return postTo("/api/rooms/shop/chat", from, tok) }
	for i := range 3 {
		if code, _, _ := post("198.51.100.1", ""); code == http.StatusTooManyRequests {
			t.Fatalf("write %d of the burst refused", i)
		}
	}
	code, retry, body := post("198.51.100.1", "")
	var e struct {
		Error      string `json:"error"`
		RetryAfter int    `json:"retry_after"`
	}
	if code != http.StatusTooManyRequests || retry != "2" || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" || e.RetryAfter != 2 {
		t.Fatalf("4th write: %d, Retry-After %q, %s; want 429, 2, a JSON error", code, retry, body)
	}
	if code, _, _ := post("198.51.100.2", ""); code == http.StatusTooManyRequests {
		t.Fatal("another client behind the same balancer is limited with the first")
	}
	for range 5 {
		if res, err := http.Get(s.url + "/api/rooms/shop/chat"); err != nil || res.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("a read was limited: %v %v", res, err)
		} else {
			res.Body.Close()
		}
	}
	chat := s.token(t, "shop", auth.GrantChat)
	for i, from := range []string{"203.0.113.1", "203.0.113.2"} {
		if code, _, _ := post(from, chat); code == http.StatusTooManyRequests {
			t.Fatalf("user write %d refused", i)
		}
	}
	if code, _, _ := post("203.0.113.3", chat); code != http.StatusTooManyRequests {
		t.Fatalf("the user's third write from a third address: %d, want 429", code)
	}
	relay, err := s.Signer().Issue(auth.AnyRoom, []auth.Grant{auth.GrantRelay}, time.Minute, "node:n2")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if code, _, body := postTo("/api/rooms/shop/lots", "198.51.100.1", relay); code == http.StatusTooManyRequests {
			t.Fatalf("another node's request was limited: %s", body)
		}
	}
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`relaycast_rate_limited_total{by="ip"} 1`, `relaycast_rate_limited_total{by="user"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestSocketMessageLimit: a socket that floods messages has the ones over its limit dropped
// and hears rate_limited (once a second at most); the socket stays open and works again.
func TestSocketMessageLimit(t *testing.T) {
	s := start(t, func(c *config.Config) { c.RateLimitSocket = "2,5" })
	c, _, err := dialWS(t, s, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := c.conn.WriteJSON(map[string]string{"type": "ping"}); err != nil {
			t.Fatal(err)
		}
	}
	pongs, limited := 0, 0
	for deadline := time.After(1500 * time.Millisecond); ; {
		select {
		case m := <-c.msgs:
			switch {
			case m.Type == "pong":
				pongs++
			case m.Type == "error" && m.Code == "rate_limited":
				limited++
			}
			continue
		case <-deadline:
		}
		break
	}
	if pongs < 5 || pongs > 9 || limited != 1 {
		t.Fatalf("30 pings at once: %d pongs (want the burst of 5, plus ≤ 2/s), %d rate_limited errors (want 1)", pongs, limited)
	}
	if err := c.conn.WriteJSON(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	c.next("pong")
}
