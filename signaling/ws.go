package signaling

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/signaling/wire"
)

// WebSocket limits and timings (see PROTOCOL.md).
const (
	maxMessage   = 64 << 10
	pingEvery    = 20 * time.Second
	idleTimeout  = 60 * time.Second
	writeTimeout = 10 * time.Second
	sendQueue    = 64
)

// reasonTooSlow closes a socket that does not read its messages (PROTOCOL.md, "Slow clients").
const reasonTooSlow = "too slow"

// DecodeMessage parses one client message with the built-in families (session, media) and
// checks its shape. It is the fuzzed entry point; sockets decode through their server's registry.
func DecodeMessage(data []byte) (wire.Message, error) {
	r, err := newRegistry(sessionFamily{}, mediaFamily{})
	if err != nil {
		return nil, err
	}
	_, m, err := r.decode(data)
	return m, err
}

type wsConn struct {
	s        *Server
	conn     *websocket.Conn
	token    string
	ip       string
	release  func()
	send     chan wire.Message
	bulk     chan wire.Message // SendWait's lane: a family's stream never fills send
	done     chan struct{}
	once     sync.Once
	handlers []Handler // by family index, opened on the family's first message (read loop only)
}

// Send, SendError, Token and Done make a wsConn a Socket for the families' handlers.
func (c *wsConn) Send(m wire.Message)   { c.queue(m) }
func (c *wsConn) SendError(err error)   { c.errorMsg(err) }
func (c *wsConn) Token() string         { return c.token }
func (c *wsConn) RemoteIP() string      { return c.ip }
func (c *wsConn) Done() <-chan struct{} { return c.done }
func (c *wsConn) Close(reason string)   { c.closeWith(websocket.ClosePolicyViolation, reason) }

// SendWait queues m on its own lane, waiting while it is full (see Socket): a family that
// streams (the live room's events) keeps its lane full when the client lags, and must not make
// the other families' Send find their queue full.
func (c *wsConn) SendWait(m wire.Message, cancel <-chan struct{}) bool {
	select {
	case c.bulk <- m:
		return true
	case <-c.done:
		return false
	case <-cancel:
		return false
	}
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
	ip := clientIP(r)
	release, ok := s.limiter.acquire(ip)
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
	c := &wsConn{s: s, conn: conn, token: r.URL.Query().Get("token"), ip: ip, release: release, send: make(chan wire.Message, sendQueue), bulk: make(chan wire.Message, sendQueue), done: make(chan struct{}), handlers: make([]Handler, len(s.reg.families))}
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

func (c *wsConn) queue(m wire.Message) {
	select {
	case c.send <- m:
	case <-c.done:
	default:
		// A client that does not read its messages is closed rather than allowed to grow memory.
		go c.closeWith(websocket.ClosePolicyViolation, reasonTooSlow)
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
			if !c.write(m) {
				return
			}
		case m := <-c.bulk:
			// What the main lane holds was queued first (hello before any family's answer).
			for more := true; more; {
				select {
				case x := <-c.send:
					if !c.write(x) {
						return
					}
				default:
					more = false
				}
			}
			if !c.write(m) {
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

// write sends one message; false (the socket closed) when it could not.
func (c *wsConn) write(m wire.Message) bool {
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	b, err := wire.Encode(m)
	if err == nil {
		err = c.writeFrame(b)
	}
	if err != nil {
		c.closeWith(websocket.CloseGoingAway, "write failed")
		return false
	}
	return true
}

// writeFrame writes b and a newline (every message ends with one) as one text message, into
// the connection's own write buffer: no copy of b (a fanned-out event's bytes are shared by
// every socket).
func (c *wsConn) writeFrame(b []byte) error {
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	return w.Close()
}

func (c *wsConn) readLoop() {
	defer func() {
		for _, h := range c.handlers {
			if h != nil {
				h.Close()
			}
		}
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
	hello := wire.Hello{Version: wire.Version, Features: c.s.reg.features}
	for _, x := range c.s.p.ICEServers {
		hello.ICEServers = append(hello.ICEServers, wire.ICEServer{URLs: []string{x.URL}, Username: x.Username, Credential: x.Credential})
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
		fam, m, err := c.s.reg.decode(data)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				c.closeWith(websocket.CloseInvalidFramePayloadData, err.Error())
				return
			}
			c.errorMsg(err)
			continue
		}
		h := c.handlers[fam]
		if h == nil {
			h = c.s.reg.families[fam].Open(c)
			c.handlers[fam] = h
		}
		h.Handle(m)
	}
}

func (c *wsConn) errorMsg(err error) {
	var redirect *Redirect
	if errors.As(err, &redirect) {
		c.queue(wire.Error{Code: codeRedirect, Message: err.Error(), URL: redirect.URL})
		return
	}
	_, code := statusOf(err)
	c.queue(wire.Error{Code: code, Message: err.Error()})
}
