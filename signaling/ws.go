package signaling

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/signaling/wire"
	"golang.org/x/time/rate"
)

// WebSocket limits and timings (see PROTOCOL.md).
const (
	maxMessage   = 64 << 10
	pingEvery    = 20 * time.Second
	idleTimeout  = 60 * time.Second
	writeTimeout = 10 * time.Second
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
	out      *out // wsout.go: every frame the server writes
	done     chan struct{}
	once     sync.Once
	handlers []Handler // by family index, opened on the family's first message (read loop only)
	// msgs is the socket's message bucket (Params.MessageLimit; nil: no cap); refusedAt is when
	// the last rate_limited error was sent (read loop only).
	msgs      *rate.Limiter
	refusedAt time.Time
}

// Send, SendError, Token and Done make a wsConn a Socket for the families' handlers.
func (c *wsConn) Send(m wire.Message)   { c.queue(m) }
func (c *wsConn) SendError(err error)   { c.errorMsg(err) }
func (c *wsConn) Token() string         { return c.token }
func (c *wsConn) RemoteIP() string      { return c.ip }
func (c *wsConn) Done() <-chan struct{} { return c.done }
func (c *wsConn) Close(reason string)   { c.closeWith(websocket.ClosePolicyViolation, reason) }

// SendWait queues m (see Socket). The queue is bounded in bytes, not messages: a client that
// lets it fill is closed as too slow, so SendWait never waits; false when the socket is closed.
func (c *wsConn) SendWait(m wire.Message, _ <-chan struct{}) bool {
	err := c.send(m)
	if errors.Is(err, errTooSlow) {
		go c.closeWith(websocket.ClosePolicyViolation, reasonTooSlow)
	}
	return err == nil
}

// Offer queues m, or writes it at once from the calling goroutine when nothing is queued before
// it (without waiting for the client: what the kernel does not take is queued). False when the
// socket is closed, or its queue is full (the client does not read): the caller closes it then.
func (c *wsConn) Offer(ms ...wire.Message) bool { return c.send(ms...) == nil }

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
	if s.refuseDrainingWS(w, r) {
		return
	}
	ip := s.clientIP(r)
	release, ok := s.limiter.acquire(ip)
	if !ok {
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, errBusy.Error())
		return
	}
	// The server writes every frame itself (wsout.go): gorilla's write buffer is never taken.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, ReadBufferSize: 4096, WriteBufferPool: &s.unusedWrites}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		release()
		return // the upgrader answered with an error already
	}
	c := &wsConn{s: s, conn: conn, token: r.URL.Query().Get("token"), ip: ip, release: release, out: newOut(conn.NetConn()), done: make(chan struct{}), handlers: make([]Handler, len(s.reg.families))}
	if l := s.p.MessageLimit; !l.Off() {
		c.msgs = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
	}
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
		close(c.done)
		c.out.finish(closeFrame(code, reason))
		_ = c.conn.Close()
	})
}

// queue sends m; a client that lets the queue fill is closed rather than allowed to grow memory.
func (c *wsConn) queue(m wire.Message) {
	if errors.Is(c.send(m), errTooSlow) {
		go c.closeWith(websocket.ClosePolicyViolation, reasonTooSlow)
	}
}

// writeLoop writes what the queue holds when the client can take it, and pings.
func (c *wsConn) writeLoop() {
	defer c.s.wg.Done()
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.out.wake:
			if err := c.out.flush(); err != nil {
				c.closeWith(websocket.CloseGoingAway, "write failed")
				return
			}
		case <-t.C:
			if err := c.control(opPing, nil); errors.Is(err, errTooSlow) {
				c.closeWith(websocket.ClosePolicyViolation, reasonTooSlow)
				return
			}
		}
	}
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
	// Pongs and the close handshake go through the socket's own queue (gorilla never writes).
	c.conn.SetPingHandler(func(data string) error {
		_ = c.control(opPong, []byte(data))
		return nil
	})
	c.conn.SetCloseHandler(func(int, string) error { return nil }) // closeWith answers with 1000
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
		if !c.allow() {
			continue
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

// allow takes a token of the socket's message bucket; a message over the limit is dropped
// before it is decoded, and the client hears rate_limited (at most once a second).
func (c *wsConn) allow() bool {
	if c.msgs == nil {
		return true
	}
	now := time.Now()
	r := c.msgs.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if wait <= 0 {
		return true
	}
	r.CancelAt(now)
	if f := c.s.p.RateLimited; f != nil {
		f()
	}
	if now.Sub(c.refusedAt) >= time.Second {
		c.refusedAt = now
		c.queue(wire.Error{Code: codeRateLimited, Message: "too many messages on this socket: slow down",
			RetryAfterMS: max(1, wait.Milliseconds())})
	}
	return false
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
