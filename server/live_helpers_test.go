package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// liveMsg is any server message of the live room, decoded leniently.
type liveMsg struct {
	Type      string          `json:"type"`
	Version   int             `json:"version"`
	Features  []string        `json:"features"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Ref       string          `json:"ref"`
	MinAmount int64           `json:"min_amount"`
	Accepted  bool            `json:"accepted"`
	Room      string          `json:"room"`
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	At        int64           `json:"at"`
	Data      json.RawMessage `json:"data"`
	Resumed   bool            `json:"resumed"`
	Chat      []chatLine      `json:"chat"`
	Events    []liveMsg       `json:"events"`
	Lot       json.RawMessage `json:"lot"`
	LastLot   json.RawMessage `json:"last_lot"`
	Lots      json.RawMessage `json:"lots"`
	Bid       json.RawMessage `json:"bid"`
	Settings  json.RawMessage `json:"settings"`
	Product   json.RawMessage `json:"product"`
	You       struct {
		Subject  string   `json:"subject"`
		Name     string   `json:"name"`
		Guest    bool     `json:"guest"`
		Grants   []string `json:"grants"`
		GuestKey string   `json:"guest_key"`
	} `json:"you"`
}

type chatLine struct {
	ID      int64  `json:"id"`
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Text    string `json:"text"`
	Guest   bool   `json:"guest"`
	Role    string `json:"role"`
}

// liveClient is a /ws client reading in the background.
type liveClient struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan liveMsg
	err  chan error // the read error (a close) once the socket is done
}

// liveServer is a test server of one Redis backend.
type liveServer struct {
	*testServer
	backend string
}

// liveBackends runs f on a server with the embedded Redis (miniredis) and, when
// RELAYCAST_TEST_REDIS is set, on one with real Redis: the same code path on both.
func liveBackends(t *testing.T, f func(t *testing.T, s *liveServer)) {
	t.Run("embedded", func(t *testing.T) {
		f(t, &liveServer{testServer: start(t, func(c *config.Config) { c.Record = false }), backend: "embedded"})
	})
	t.Run("redis", func(t *testing.T) {
		url := testserver.RedisURL(t, 4)
		f(t, &liveServer{testServer: start(t, func(c *config.Config) { c.Record = false; c.RedisURL = url }), backend: "redis"})
	})
}

// room is a fresh room name.
func room(prefix string) string { return fmt.Sprintf("%s-%d", prefix, rand.Int64N(1<<40)) }

func (s *liveServer) tokenFor(t *testing.T, room, subject, name string, grants ...auth.Grant) string {
	t.Helper()
	tok, err := s.Signer().IssueClaims(auth.Claims{Room: room, Grants: grants, Subject: subject, Name: name}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial opens a socket; rcvbuf > 0 shrinks its receive buffer (a client that reads slowly).
func (s *liveServer) dial(t *testing.T, rcvbuf int) *liveClient {
	t.Helper()
	d := *websocket.DefaultDialer
	if rcvbuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
		}}
		d.NetDial = nd.Dial
	}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &liveClient{t: t, conn: conn}
}

// reading starts the background reader (a stalled client never calls it).
func (c *liveClient) reading() *liveClient {
	c.msgs, c.err = make(chan liveMsg, 4096), make(chan error, 1)
	go func() {
		for {
			_, b, err := c.conn.ReadMessage()
			if err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			var m liveMsg
			if err := json.Unmarshal(b, &m); err != nil {
				c.err <- fmt.Errorf("bad message %s: %w", b, err)
				close(c.msgs)
				return
			}
			c.msgs <- m
		}
	}()
	if m := c.next("hello"); m.Version != 1 {
		c.t.Fatalf("hello = %+v", m)
	}
	return c
}

func (c *liveClient) send(m any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatal(err)
	}
}

// next is the next message of type typ; events and other messages before it are skipped
// unless typ is "event".
func (c *liveClient) next(typ string) liveMsg {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("socket closed waiting for %q: %v", typ, <-c.err)
			}
			if m.Type == typ {
				return m
			}
			if m.Type == "error" && typ != "error" {
				c.t.Fatalf("error %s (%s) waiting for %q", m.Code, m.Message, typ)
			}
		case <-timeout:
			c.t.Fatalf("timed out waiting for %q", typ)
		}
	}
}

// reply is the next message that is not an event (the answer to a request).
func (c *liveClient) reply() liveMsg {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("socket closed waiting for a reply: %v", <-c.err)
			}
			if m.Type != "event" {
				return m
			}
		case <-timeout:
			c.t.Fatal("timed out waiting for a reply")
		}
	}
}

// event is the next event of kind.
func (c *liveClient) event(kind string) liveMsg {
	c.t.Helper()
	for {
		if m := c.next("event"); m.Kind == kind {
			return m
		}
	}
}

// join joins room and returns joined (fatal on an error).
func (c *liveClient) join(m map[string]any) liveMsg {
	c.t.Helper()
	m["type"] = "join"
	c.send(m)
	r := c.reply()
	if r.Type != "joined" {
		c.t.Fatalf("join %v: %+v", m, r)
	}
	return r
}

// wantError expects the next reply to be an error with code.
func (c *liveClient) wantError(code string) liveMsg {
	c.t.Helper()
	r := c.reply()
	if r.Type != "error" || r.Code != code {
		c.t.Fatalf("got %+v, want error %s", r, code)
	}
	return r
}
