package signaling

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/signaling/wire"
)

// drainRetryAfter is the Retry-After (seconds) of a session refused by a draining node: the load
// balancer takes the node out within its health check interval, so the next try lands elsewhere.
const drainRetryAfter = "1"

// errDraining is the refusal's text (HTTP body and logs).
const errDraining = "this node is draining (shutting down): connect again, the load balancer sends you to another node"

// Drain makes the server refuse new sessions and tells every open WebSocket to reconnect
// (PROTOCOL.md, "Draining"): new WHIP/WHEP offers get 503 with a JSON error and Retry-After,
// a new /ws gets `reconnect` and is closed with reason "draining", and a `publish` or `watch`
// on an open socket is answered `reconnect`. Sessions already running go on until their client
// leaves or Close ends them. Drain is idempotent.
func (s *Server) Drain() {
	if s.draining.Swap(true) {
		return
	}
	s.mu.Lock()
	socks := make([]*wsConn, 0, len(s.sockets))
	for c := range s.sockets {
		socks = append(socks, c)
	}
	sessions := len(s.sessions)
	s.mu.Unlock()
	for _, c := range socks {
		c.queue(wire.Reconnect{Reason: wire.ReasonDraining})
	}
	s.log.Info("draining: new sessions refused, sockets told to reconnect", "sockets", len(socks), "sessions", sessions)
}

// Draining reports whether Drain ran.
func (s *Server) Draining() bool { return s.draining.Load() }

// Active is the number of WHIP/WHEP sessions and WebSockets still open (a draining node waits
// for it to reach 0).
func (s *Server) Active() (sessions, sockets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions), len(s.sockets)
}

// refuseDrainingHTTP answers a new WHIP/WHEP session on a draining node: 503, Retry-After and
// {"error": "..."}. It reports whether it answered. An edge's pull (WHEP with a relay token,
// auth.GrantRelay) is still served: the room's publisher may stay here until the drain ends,
// and the viewers that moved to other nodes watch it through their edges.
func (s *Server) refuseDrainingHTTP(w http.ResponseWriter, r *http.Request, publish bool) bool {
	if !s.draining.Load() {
		return false
	}
	if !publish {
		if _, err := s.p.Auth.Authorize(auth.TokenFromRequest(r), r.PathValue("room"), auth.GrantRelay); err == nil {
			return false
		}
	}
	h := w.Header()
	h.Set("Retry-After", drainRetryAfter)
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": errDraining})
	return true
}

// refuseDrainingWS answers a new /ws on a draining node: the upgrade succeeds (a browser sees
// no reason on a refused upgrade), the socket gets `reconnect` and is closed with code 1013
// (try again later) and reason "draining". It reports whether it answered.
func (s *Server) refuseDrainingWS(w http.ResponseWriter, r *http.Request) bool {
	if !s.draining.Load() {
		return false
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, ReadBufferSize: 1024, WriteBufferSize: 1024}
	conn, err := up.Upgrade(w, r, http.Header{"Retry-After": {drainRetryAfter}})
	if err != nil {
		return true // the upgrader answered with an error already
	}
	defer conn.Close()
	deadline := time.Now().Add(time.Second)
	_ = conn.SetWriteDeadline(deadline)
	if b, err := wire.Encode(wire.Reconnect{Reason: wire.ReasonDraining}); err == nil {
		_ = conn.WriteMessage(websocket.TextMessage, append(b, '\n'))
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, wire.ReasonDraining), deadline)
	return true
}

// drainingSocket answers a `publish` or `watch` on an open socket of a draining node with
// `reconnect`; it reports whether it did.
func (s *Server) drainingSocket(sock Socket) bool {
	if !s.draining.Load() {
		return false
	}
	sock.Send(wire.Reconnect{Reason: wire.ReasonDraining})
	return true
}
