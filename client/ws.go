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
	"github.com/relaycast/relaycast/signaling/wire"
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

// wsMsg is a server message the session keeps: an answer, an error or a waiting.
type wsMsg struct {
	typ     string
	sdp     string
	code    string
	message string
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
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	env, err := readEnvelope(conn)
	if err == nil && env.Type != wire.TypeHello {
		err = fmt.Errorf("first message is %q", env.Type)
	}
	if err != nil {
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
		env, err := readEnvelope(s.conn)
		if err != nil {
			return
		}
		var m wsMsg
		switch env.Type {
		case wire.TypeLayer:
			var l wire.Layer
			if env.Decode(&l) != nil {
				continue
			}
			layer := l.Layer
			if l.AudioOnly {
				layer = "audio_only"
			}
			s.layer.Store(layer)
			continue
		case wire.TypeAnswer:
			var a wire.Answer
			if env.Decode(&a) != nil {
				continue
			}
			m = wsMsg{typ: env.Type, sdp: a.SDP}
		case wire.TypeError:
			var e wire.Error
			if env.Decode(&e) != nil {
				continue
			}
			m = wsMsg{typ: env.Type, code: e.Code, message: e.Message}
		case wire.TypeWaiting:
			m = wsMsg{typ: env.Type}
		default:
			continue
		}
		select {
		case s.answers <- m:
		default:
		}
	}
}

// readEnvelope reads the next text message's envelope.
func readEnvelope(conn *websocket.Conn) (wire.Envelope, error) {
	_, data, err := conn.ReadMessage()
	if err != nil {
		return wire.Envelope{}, err
	}
	return wire.Open(data)
}

// Watch returns an Exchange that sends a `watch` for room with the offer.
func (s *WSSession) Watch(room, token string) Exchange {
	return s.exchange(wire.TypeWatch, room, token, "")
}

// WatchQuality is Watch with a simulcast layer choice (auto, high, medium, low) in the message.
func (s *WSSession) WatchQuality(room, token, quality string) Exchange {
	return s.exchange(wire.TypeWatch, room, token, quality)
}

// Layer is the layer the server last reported sending (`layer` message: high, medium, low,
// audio_only, or "" while none); "" before any report or in rooms without simulcast.
func (s *WSSession) Layer() string {
	l, _ := s.layer.Load().(string)
	return l
}

// Publish returns an Exchange that sends a `publish` for room with the offer.
func (s *WSSession) Publish(room, token string) Exchange {
	return s.exchange(wire.TypePublish, room, token, "")
}

func (s *WSSession) exchange(kind, room, token, quality string) Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		var msg wire.Message = wire.Publish{Room: room, SDP: offer, Token: token}
		if kind == wire.TypeWatch {
			msg = wire.Watch{Room: room, SDP: offer, Token: token, Quality: quality}
		}
		data, err := wire.Encode(msg)
		if err != nil {
			return "", err
		}
		s.writeMu.Lock()
		err = s.conn.WriteMessage(websocket.TextMessage, data)
		s.writeMu.Unlock()
		if err != nil {
			return "", err
		}
		select {
		case m := <-s.answers:
			switch m.typ {
			case wire.TypeAnswer:
				return m.sdp, nil
			case wire.TypeWaiting:
				return "", &WSError{Code: "not_found", Message: "room " + room + " is not live"}
			default:
				return "", &WSError{Code: m.code, Message: m.message}
			}
		case <-s.done:
			return "", ErrWSClosed
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Done is closed when the socket ended (the server closed it, or it broke).
func (s *WSSession) Done() <-chan struct{} { return s.done }

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
