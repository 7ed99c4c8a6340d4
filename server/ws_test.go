package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
)

type wsMsg struct {
	Type    string `json:"type"`
	SDP     string `json:"sdp,omitempty"`
	Room    string `json:"room,omitempty"`
	Token   string `json:"token,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Viewers *int   `json:"viewers,omitempty"`
	Version int    `json:"version,omitempty"`
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan wsMsg
	errs chan error
}

func dialWS(t *testing.T, s *testServer, origin string) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/ws", h)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, conn: conn, msgs: make(chan wsMsg, 64), errs: make(chan error, 1)}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		for {
			var m wsMsg
			if err := conn.ReadJSON(&m); err != nil {
				c.errs <- err
				close(c.msgs)
				return
			}
			c.msgs <- m
		}
	}()
	if m := c.next("hello"); m.Version != 1 {
		t.Fatalf("hello version = %d", m.Version)
	}
	return c, resp, nil
}

// next waits for the next message of type typ, skipping status updates.
func (c *wsClient) next(typ string) wsMsg {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("socket closed waiting for %q: %v", typ, <-c.errs)
			}
			if m.Type == typ {
				return m
			}
			if m.Type == "status" && typ != "status" {
				continue
			}
			c.t.Fatalf("got %+v while waiting for %q", m, typ)
		case <-timeout:
			c.t.Fatalf("timed out waiting for %q", typ)
		}
	}
}

func (c *wsClient) send(m any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatal(err)
	}
}

// exchange is a client.Exchange over the socket.
func (c *wsClient) exchange(typ, room, token string) client.Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		c.send(wsMsg{Type: typ, Room: room, SDP: offer, Token: token})
		for {
			select {
			case m := <-c.msgs:
				switch m.Type {
				case "answer":
					return m.SDP, nil
				case "error":
					return "", errors.New(m.Code + ": " + m.Message)
				case "waiting":
					return "", errors.New("waiting")
				}
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
}

func TestWebSocketPublishWatchEndRestart(t *testing.T) {
	s := start(t, nil)
	tok := s.token(t, "live1", auth.GrantPublish)

	// A viewer arrives before the broadcast: it is told to wait.
	viewerWS, _, err := dialWS(t, s, s.url)
	if err != nil {
		t.Fatal(err)
	}
	viewerWS.send(wsMsg{Type: "watch", Room: "live1"})
	viewerWS.next("waiting")

	pubWS, _, err := dialWS(t, s, "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Connect(ctxT(t), pubWS.exchange("publish", "live1", tok)); err != nil {
		t.Fatal(err)
	}
	viewerWS.next("live")

	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctxT(t), viewerWS.exchange("watch", "live1", "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "media at the WebSocket viewer", func() bool { return v.Stats().VideoPackets > 30 })

	// The publisher sees the viewer count.
	for {
		m := pubWS.next("status")
		if m.Viewers != nil && *m.Viewers == 1 {
			break
		}
	}

	// The publisher stops: the viewer is told and its peer connection closed.
	pubWS.send(wsMsg{Type: "stop"})
	if m := viewerWS.next("ended"); m.Reason == "" {
		t.Error("ended without a reason")
	}
	select {
	case <-v.Disconnected():
	case <-time.After(10 * time.Second):
		t.Fatal("viewer peer connection not closed after the end")
	}

	// The broadcast restarts on the same socket; the waiting viewer is told.
	pub2, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub2.Close()
	if err := pub2.Connect(ctxT(t), pubWS.exchange("publish", "live1", tok)); err != nil {
		t.Fatal(err)
	}
	viewerWS.next("live")
}

func TestWebSocketBadInput(t *testing.T) {
	s := start(t, nil)
	closeCode := func(c *wsClient) int {
		t.Helper()
		select {
		case err := <-c.errs:
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			t.Fatalf("socket ended with %v, not a close frame", err)
		case <-time.After(5 * time.Second):
			t.Fatal("socket not closed")
		}
		return 0
	}
	t.Run("malformed json", func(t *testing.T) {
		c, _, err := dialWS(t, s, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = c.conn.WriteMessage(websocket.TextMessage, []byte("{not json"))
		if code := closeCode(c); code != websocket.CloseInvalidFramePayloadData {
			t.Errorf("close code %d, want 1007", code)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		c, _, err := dialWS(t, s, "")
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]string{"type": "explode"})
		if code := closeCode(c); code != websocket.CloseInvalidFramePayloadData {
			t.Errorf("close code %d, want 1007", code)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		c, _, err := dialWS(t, s, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"publish","sdp":"`+strings.Repeat("x", 70<<10)+`"}`))
		if code := closeCode(c); code != websocket.CloseMessageTooBig {
			t.Errorf("close code %d, want 1009", code)
		}
	})
	t.Run("errors keep the socket open", func(t *testing.T) {
		c, _, err := dialWS(t, s, "")
		if err != nil {
			t.Fatal(err)
		}
		c.send(wsMsg{Type: "publish", Room: "a/../b", SDP: "v=0"})
		if m := c.next("error"); m.Code != "bad_request" {
			t.Errorf("bad room: %+v", m)
		}
		c.send(wsMsg{Type: "publish", Room: "ok", SDP: "v=0", Token: "forged.token.here"})
		if m := c.next("error"); m.Code != "unauthorized" {
			t.Errorf("forged token: %+v", m)
		}
		c.send(wsMsg{Type: "publish", Room: "ok", SDP: "garbage", Token: s.token(t, "ok", auth.GrantPublish)})
		if m := c.next("error"); m.Code != "bad_request" {
			t.Errorf("bad sdp: %+v", m)
		}
		var raw json.RawMessage = []byte(`{"type":"ping"}`)
		c.send(raw)
		c.next("pong")
	})
	t.Run("foreign origin", func(t *testing.T) {
		_, resp, err := dialWS(t, s, "https://evil.example.com")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign origin: err=%v resp=%v, want 403", err, resp)
		}
	})
}
