package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/sfu"
)

// WebSocket limits and timings (see PROTOCOL.md).
const (
	protocolVersion = 1
	maxMessage      = 64 << 10
	pingEvery       = 20 * time.Second
	idleTimeout     = 60 * time.Second
	writeTimeout    = 10 * time.Second
	sendQueue       = 64
)

// message is every client→server and server→client message (PROTOCOL.md).
type message struct {
	Type      string                   `json:"type"`
	Room      string                   `json:"room,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Token     string                   `json:"token,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Version   int                      `json:"version,omitempty"`
	Live      *bool                    `json:"live,omitempty"`
	Viewers   *int                     `json:"viewers,omitempty"`
	Since     *time.Time               `json:"since,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
	Code      string                   `json:"code,omitempty"`
	Message   string                   `json:"message,omitempty"`
	// ICEServers (hello only) are the configured STUN/TURN servers in RTCIceServer shape.
	ICEServers []rtcICEServer `json:"ice_servers,omitempty"`
	// Simulcast: the viewer's choice (watch, quality, layer) and what it is sent (layer).
	Quality   string   `json:"quality,omitempty"`
	Layer     *string  `json:"layer,omitempty"`
	Layers    []string `json:"layers,omitempty"`
	AudioOnly *bool    `json:"audio_only,omitempty"`
}

type rtcICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ErrProtocol marks a message that breaks the protocol; the socket is closed with the reason.
var ErrProtocol = errors.New("protocol violation")

// DecodeMessage parses one client message and checks its shape. It is the fuzzed entry point.
func DecodeMessage(data []byte) (message, error) {
	var m message
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("%w: invalid JSON: %v", ErrProtocol, err)
	}
	if dec.More() {
		return m, fmt.Errorf("%w: one JSON object per message", ErrProtocol)
	}
	switch m.Type {
	case "publish", "watch":
		if !ValidRoom(m.Room) {
			return m, fmt.Errorf("%w: %v", errBadRoom, m.Room)
		}
		if m.Type == "publish" && m.SDP == "" {
			return m, fmt.Errorf("%w: publish needs an sdp offer", sfu.ErrBadOffer)
		}
		if m.Type == "watch" {
			if _, err := sfu.ParseQuality(m.Quality); err != nil {
				return m, err
			}
		}
	case "quality":
		if _, err := sfu.ParseQuality(m.Quality); err != nil || m.Quality == "" {
			return m, fmt.Errorf("%w: quality needs one of auto, high, medium, low", sfu.ErrBadQuality)
		}
	case "candidate", "stop", "ping":
	case "":
		return m, fmt.Errorf("%w: missing type", ErrProtocol)
	default:
		return m, fmt.Errorf("%w: unknown type %q", ErrProtocol, m.Type)
	}
	return m, nil
}

type wsConn struct {
	s       *Server
	conn    *websocket.Conn
	token   string
	release func()
	send    chan message
	done    chan struct{}
	once    sync.Once

	mu          sync.Mutex
	sess        session
	sessPublish bool
	room        string
	unwatch     func()
	watchDone   chan struct{}
	quality     sfu.Quality // the viewer's simulcast choice, kept across watch sessions
}

func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.p.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// handleWS upgrades GET /ws and runs the protocol.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(r) {
		httpError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	release, ok := s.limiter.acquire(clientIP(r))
	if !ok {
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, errBusy.Error())
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, ReadBufferSize: 4096, WriteBufferSize: 4096}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		release()
		return // the upgrader answered with an error already
	}
	c := &wsConn{s: s, conn: conn, token: r.URL.Query().Get("token"), release: release, send: make(chan message, sendQueue), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		release()
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"))
		_ = conn.Close()
		return
	}
	s.sockets[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go c.writeLoop()
	go c.readLoop()
}

// shutdown closes the socket with a reason (from any goroutine).
func (c *wsConn) shutdown(reason string) { c.closeWith(websocket.CloseGoingAway, reason) }

func (c *wsConn) closeWith(code int, reason string) {
	c.once.Do(func() {
		if len(reason) > 120 {
			reason = reason[:120]
		}
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		close(c.done)
		_ = c.conn.Close()
	})
}

func (c *wsConn) queue(m message) {
	select {
	case c.send <- m:
	case <-c.done:
	default:
		// A client that does not read its messages is closed rather than allowed to grow memory.
		go c.closeWith(websocket.ClosePolicyViolation, "client is not reading")
	}
}

func (c *wsConn) writeLoop() {
	defer c.s.wg.Done()
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.conn.WriteJSON(m); err != nil {
				c.closeWith(websocket.CloseGoingAway, "write failed")
				return
			}
		case <-t.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.closeWith(websocket.CloseGoingAway, "ping failed")
				return
			}
		}
	}
}

func (c *wsConn) readLoop() {
	defer func() {
		c.endSession()
		c.closeWith(websocket.CloseNormalClosure, "")
		c.release()
		c.s.mu.Lock()
		delete(c.s.sockets, c)
		c.s.mu.Unlock()
		c.s.wg.Done()
	}()
	c.conn.SetReadLimit(maxMessage)
	_ = c.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(idleTimeout)) })
	hello := message{Type: "hello", Version: protocolVersion}
	for _, x := range c.s.p.ICEServers {
		hello.ICEServers = append(hello.ICEServers, rtcICEServer{URLs: []string{x.URL}, Username: x.Username, Credential: x.Credential})
	}
	c.queue(hello)
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.closeWith(websocket.CloseMessageTooBig, fmt.Sprintf("message larger than %d bytes", maxMessage))
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		if kind != websocket.TextMessage {
			c.closeWith(websocket.CloseUnsupportedData, "binary messages are not supported")
			return
		}
		m, err := DecodeMessage(data)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				c.closeWith(websocket.CloseInvalidFramePayloadData, err.Error())
				return
			}
			c.errorMsg(err)
			continue
		}
		c.handle(m)
	}
}

func (c *wsConn) errorMsg(err error) {
	_, code := statusOf(err)
	c.queue(message{Type: "error", Code: code, Message: err.Error()})
}

func (c *wsConn) handle(m message) {
	switch m.Type {
	case "ping":
		c.queue(message{Type: "pong"})
	case "stop":
		c.endSession()
	case "candidate":
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if sess == nil || m.Candidate == nil || m.Candidate.Candidate == "" {
			return // nothing to trickle into, or end-of-candidates
		}
		if err := sess.AddICECandidate(*m.Candidate); err != nil {
			c.errorMsg(err)
		}
	case "quality":
		c.setQuality(sfu.Quality(m.Quality))
	case "publish":
		c.publish(m)
	case "watch":
		c.watch(m)
	}
}

func (c *wsConn) tokenOf(m message) string {
	if m.Token != "" {
		return m.Token
	}
	return c.token
}

func (c *wsConn) publish(m message) {
	c.endSession()
	token := c.tokenOf(m)
	claims, err := c.s.p.Auth.Authorize(token, m.Room, auth.GrantPublish)
	if err != nil {
		c.errorMsg(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.p.NegotiateTimeout)
	defer cancel()
	pub, answer, err := c.s.p.SFU.Publish(ctx, sfu.PublishParams{Room: m.Room, Offer: m.SDP, Owner: owner(claims, token), Subject: claims.Subject})
	if err != nil {
		c.errorMsg(err)
		return
	}
	c.setSession(pub, true, m.Room)
	c.queue(message{Type: "answer", SDP: answer})
}

func (c *wsConn) watch(m message) {
	c.endSession()
	if c.s.p.ViewerAuth {
		if _, err := c.s.p.Auth.Authorize(c.tokenOf(m), m.Room, auth.GrantSubscribe); err != nil {
			c.errorMsg(err)
			return
		}
	}
	c.follow(m.Room, false)
	if m.SDP == "" {
		if info, ok := c.s.p.SFU.Room(m.Room); ok {
			c.queue(statusMsg(info))
			c.queue(message{Type: "live", Room: m.Room})
		} else {
			c.queue(message{Type: "waiting", Room: m.Room})
		}
		return
	}
	c.mu.Lock()
	if m.Quality != "" {
		c.quality = sfu.Quality(m.Quality)
	}
	q := c.quality
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.s.p.NegotiateTimeout)
	defer cancel()
	var self atomic.Pointer[sfu.Subscriber]
	onLayer := func(st sfu.LayerState) {
		sub := self.Load()
		c.mu.Lock()
		current := sub != nil && c.sess == session(sub)
		c.mu.Unlock()
		if current {
			c.queue(layerMsg(st))
		}
	}
	sub, answer, err := c.s.p.SFU.Subscribe(ctx, sfu.SubscribeParams{Room: m.Room, Offer: m.SDP, Quality: q, OnLayer: onLayer})
	self.Store(sub)
	if errors.Is(err, sfu.ErrRoomNotLive) {
		c.queue(message{Type: "waiting", Room: m.Room})
		return
	}
	if err != nil {
		c.errorMsg(err)
		return
	}
	c.mu.Lock()
	c.sess, c.sessPublish = sub, false
	c.mu.Unlock()
	c.queue(message{Type: "answer", SDP: answer})
	if st, ok := sub.Layer(); ok {
		c.queue(layerMsg(st))
	}
	if info, ok := c.s.p.SFU.Room(m.Room); ok {
		c.queue(statusMsg(info))
	}
}

// setQuality applies a viewer's simulcast choice to its session (and to later ones).
func (c *wsConn) setQuality(q sfu.Quality) {
	c.mu.Lock()
	c.quality = q
	sess, publish := c.sess, c.sessPublish
	c.mu.Unlock()
	if sub, ok := sess.(*sfu.Subscriber); ok && !publish {
		if err := sub.SetQuality(q); err != nil {
			c.errorMsg(err)
			return
		}
		if st, ok := sub.Layer(); ok {
			c.queue(layerMsg(st))
		}
	}
}

func layerMsg(st sfu.LayerState) message {
	layer, audioOnly := st.Layer, st.AudioOnly
	return message{Type: "layer", Quality: string(st.Quality), Layer: &layer, Layers: st.Layers, AudioOnly: &audioOnly}
}

func statusMsg(info sfu.RoomInfo) message {
	live, viewers, since := true, info.Viewers, info.Since
	return message{Type: "status", Room: info.Room, Live: &live, Viewers: &viewers, Since: &since}
}

func (c *wsConn) setSession(sess session, publish bool, room string) {
	c.mu.Lock()
	c.sess, c.sessPublish = sess, publish
	c.mu.Unlock()
	c.follow(room, true)
}

// follow forwards the room's events to this socket until the session ends or another begins.
func (c *wsConn) follow(room string, publisher bool) {
	events, unwatch := c.s.p.SFU.Watch(room)
	stop := make(chan struct{})
	c.mu.Lock()
	c.room, c.unwatch, c.watchDone = room, unwatch, stop
	c.mu.Unlock()
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-c.done:
				return
			case ev := <-events:
				switch ev.Kind {
				case sfu.EventLive:
					if !publisher {
						c.queue(message{Type: "live", Room: room})
					}
				case sfu.EventStatus:
					live, viewers, since := ev.Live, ev.Viewers, ev.Since
					c.queue(message{Type: "status", Room: room, Live: &live, Viewers: &viewers, Since: &since})
				case sfu.EventEnded:
					c.mu.Lock()
					if c.sess != nil {
						c.sess = nil
					}
					c.mu.Unlock()
					c.queue(message{Type: "ended", Room: room, Reason: ev.Reason})
					if publisher {
						return
					}
				}
			}
		}
	}()
}

// endSession closes the current publish/watch session and stops following its room.
func (c *wsConn) endSession() {
	c.mu.Lock()
	sess, unwatch, stop := c.sess, c.unwatch, c.watchDone
	c.sess, c.unwatch, c.watchDone = nil, nil, nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if unwatch != nil {
		unwatch()
	}
	if sess != nil {
		_ = sess.Close()
	}
}
