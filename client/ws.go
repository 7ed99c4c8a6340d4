package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// ErrWSClosed: the WebSocket closed before the server answered.
var ErrWSClosed = errors.New("websocket closed")

// WSError is an `error` message of the signaling protocol (signaling/PROTOCOL.md).
type WSError struct {
	Code, Message string
}

func (e *WSError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// WSSession is one relaycast /ws socket (signaling/PROTOCOL.md) used to publish or watch one room.
// It answers pings, drains status messages and keeps the socket open until Close.
type WSSession struct {
	conn    *websocket.Conn
	answers chan wsMsg
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	writeMu sync.Mutex
	layer   atomic.Value // string: the layer of the last `layer` message (simulcast rooms)
}

type wsMsg struct {
	Type    string `json:"type"`
	SDP     string `json:"sdp,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Layer   string `json:"layer,omitempty"`
	Audio   bool   `json:"audio_only,omitempty"`
}

// DialWS opens a socket to base's /ws (base is the server's http(s) URL) with a same-origin
// Origin header and waits for `hello`.
func DialWS(ctx context.Context, base string) (*WSSession, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/ws")
	if err != nil {
		return nil, err
	}
	origin := u.Scheme + "://" + u.Host
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.DialContext(ctx, u.String(), http.Header{"Origin": {origin}})
	if err != nil {
		return nil, err
	}
	s := &WSSession{conn: conn, answers: make(chan wsMsg, 4), done: make(chan struct{})}
	var hello wsMsg
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		_ = conn.Close()
		return nil, fmt.Errorf("no hello from %s: %v", u, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.wg.Add(1)
	go s.read()
	return s, nil
}

func (s *WSSession) read() {
	defer s.wg.Done()
	defer close(s.done)
	for {
		var m wsMsg
		if err := s.conn.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "layer":
			l := m.Layer
			if m.Audio {
				l = "audio_only"
			}
			s.layer.Store(l)
		case "answer", "error", "waiting":
			select {
			case s.answers <- m:
			default:
			}
		}
	}
}

// Watch returns an Exchange that sends a `watch` for room with the offer.
func (s *WSSession) Watch(room, token string) Exchange { return s.exchange("watch", room, token, "") }

// WatchQuality is Watch with a simulcast layer choice (auto, high, medium, low) in the message.
func (s *WSSession) WatchQuality(room, token, quality string) Exchange {
	return s.exchange("watch", room, token, quality)
}

// Layer is the layer the server last reported sending (`layer` message: high, medium, low,
// audio_only, or "" while none); "" before any report or in rooms without simulcast.
func (s *WSSession) Layer() string {
	l, _ := s.layer.Load().(string)
	return l
}

// Publish returns an Exchange that sends a `publish` for room with the offer.
func (s *WSSession) Publish(room, token string) Exchange {
	return s.exchange("publish", room, token, "")
}

func (s *WSSession) exchange(kind, room, token, quality string) Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		msg := map[string]string{"type": kind, "room": room, "sdp": offer}
		if token != "" {
			msg["token"] = token
		}
		if quality != "" {
			msg["quality"] = quality
		}
		s.writeMu.Lock()
		err := s.conn.WriteJSON(msg)
		s.writeMu.Unlock()
		if err != nil {
			return "", err
		}
		select {
		case m := <-s.answers:
			switch m.Type {
			case "answer":
				return m.SDP, nil
			case "waiting":
				return "", &WSError{Code: "not_found", Message: "room " + room + " is not live"}
			default:
				return "", &WSError{Code: m.Code, Message: m.Message}
			}
		case <-s.done:
			return "", ErrWSClosed
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Close closes the socket and waits for its reader.
func (s *WSSession) Close() error {
	s.once.Do(func() {
		s.writeMu.Lock()
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		s.writeMu.Unlock()
		_ = s.conn.Close()
		s.wg.Wait()
	})
	return nil
}
