package signaling_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// TestDrain: after Drain, an open socket is told to reconnect (and answered `reconnect` when it
// asks to watch), a new socket gets `reconnect` and the close reason "draining" (code 1013),
// new WHIP/WHEP offers get 503 with Retry-After and a JSON error (but an edge's WHEP pull with a
// relay token is served), and Active counts the sockets until their clients leave.
func TestDrain(t *testing.T) {
	s, err := sfu.New(sfu.Config{Loopback: true, ICEUDPPort: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	signer, err := auth.NewSigner([]byte("drain-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	sig := signaling.New(signaling.Params{SFU: s, Auth: signer})
	mux := http.NewServeMux()
	sig.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = sig.Close() })
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"

	type msg struct{ Type, Reason string }
	read := func(c *websocket.Conn) (msg, error) {
		var m msg
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		err := c.ReadJSON(&m)
		return m, err
	}
	old, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if m, err := read(old); err != nil || m.Type != "hello" {
		t.Fatalf("first message %+v, %v: want hello", m, err)
	}
	waitActive(t, sig, 1)
	if sig.Draining() {
		t.Fatal("Draining before Drain")
	}

	sig.Drain()
	sig.Drain() // idempotent: one reconnect message
	if !sig.Draining() {
		t.Fatal("not Draining after Drain")
	}
	if m, err := read(old); err != nil || m != (msg{"reconnect", "draining"}) {
		t.Fatalf("open socket got %+v, %v: want reconnect/draining", m, err)
	}
	if err := old.WriteJSON(map[string]string{"type": "watch", "room": "r1"}); err != nil {
		t.Fatal(err)
	}
	if m, err := read(old); err != nil || m != (msg{"reconnect", "draining"}) {
		t.Fatalf("watch while draining got %+v, %v: want reconnect/draining", m, err)
	}

	fresh, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if m, err := read(fresh); err != nil || m != (msg{"reconnect", "draining"}) {
		t.Fatalf("new socket got %+v, %v: want reconnect/draining (and no hello)", m, err)
	}
	_, err = read(fresh)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || ce.Text != "draining" {
		t.Fatalf("new socket closed with %v: want 1013 draining", err)
	}

	for _, path := range []string{"/whip/r1", "/whep/r1"} {
		res, err := http.Post(hs.URL+path, "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		decErr := json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
			!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || decErr != nil || !strings.Contains(body.Error, "draining") {
			t.Errorf("POST %s while draining: %d Retry-After %q %q %+v (%v): want 503, Retry-After, a JSON error", path,
				res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), body, decErr)
		}
	}

	// An edge's pull (a relay token) still reaches the SFU: here the room is not live (404).
	relay, _ := signer.Issue(auth.AnyRoom, []auth.Grant{auth.GrantRelay}, time.Minute, "node:edge")
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/whep/r1", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+relay)
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode == http.StatusServiceUnavailable {
		t.Errorf("an edge's WHEP pull (relay token) on a draining node: %d, want it served", res.StatusCode)
	}

	// The old socket's client leaves: nothing is left to wait for.
	_ = old.Close()
	waitActive(t, sig, 0)
}

func waitActive(t *testing.T, sig *signaling.Server, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sessions, sockets := sig.Active()
		if sessions+sockets == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Active() = %d sessions, %d sockets: want %d in all", sessions, sockets, want)
		}
	}
}
