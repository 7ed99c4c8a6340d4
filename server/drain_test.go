package server_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestServerDrain: Drain turns /readyz to 503 at once, tells the open sockets to reconnect, and
// returns as soon as they are gone; bounded by its context, it reports what was left.
func TestServerDrain(t *testing.T) {
	s := start(t, nil)
	if code, _, _ := getStatus(s.url + "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d before the drain", code)
	}
	c, _, err := dialWS(t, s, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	type result struct{ sessions, sockets int }
	done := make(chan result, 1)
	go func() { a, b := s.Drain(ctx); done <- result{a, b} }()
	if m := c.next("reconnect"); m.Reason != "draining" {
		t.Fatalf("reconnect reason %q", m.Reason)
	}
	if code, body, _ := getStatus(s.url + "/readyz"); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Fatalf("/readyz = %d %q while draining, want 503 draining", code, body)
	}
	if !s.Draining() {
		t.Fatal("Draining() false while draining")
	}
	// The client ignores the message: the drain ends at its deadline with the socket left.
	if r := <-done; r != (result{0, 1}) {
		t.Fatalf("Drain left %+v, want 1 socket", r)
	}
	// Once the client leaves, a new Drain returns at once with nothing left.
	_ = c.conn.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	startAt := time.Now()
	if a, b := s.Drain(ctx2); a+b != 0 || time.Since(startAt) > 2*time.Second {
		t.Fatalf("Drain after the client left: %d sessions, %d sockets, took %v", a, b, time.Since(startAt))
	}
}

func getStatus(url string) (int, string, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}
