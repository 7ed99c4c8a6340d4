package signaling

import (
	"errors"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/auth"
)

// reasonRevoked closes a socket, or ends a session, whose token was revoked.
const reasonRevoked = "token revoked"

// Revalidate checks the token of every open WHIP/WHEP session and WebSocket again and ends those
// whose token was revoked since (auth.ErrRevoked): a publisher's or viewer's session is closed,
// a socket is closed with 1008 "token revoked". Other failures (an expired token) end nothing:
// a session outlives its token's expiry by design. The server calls it when the list of revoked
// tokens grows.
func (s *Server) Revalidate() (ended int) {
	revoked := func(token, room string, g auth.Grant) bool {
		if token == "" {
			return false
		}
		_, err := s.p.Auth.Authorize(token, room, g)
		return errors.Is(err, auth.ErrRevoked)
	}
	s.mu.Lock()
	var sessions []*httpSession
	for _, hs := range s.sessions {
		g := auth.GrantSubscribe
		if hs.publish {
			g = auth.GrantPublish
		}
		if revoked(hs.token, hs.room, g) {
			sessions = append(sessions, hs)
		}
	}
	var sockets []*wsConn
	for c := range s.sockets {
		// The socket's own token (?token=): any room will do to learn that it is revoked.
		if revoked(c.token, auth.AnyRoom, auth.GrantSubscribe) {
			sockets = append(sockets, c)
		}
	}
	s.mu.Unlock()
	for _, hs := range sessions {
		s.p.Logger.Info("ending a session: its token was revoked", "room", hs.room, "publish", hs.publish)
		_ = hs.Close()
	}
	for _, c := range sockets {
		c.closeWith(websocket.ClosePolicyViolation, reasonRevoked)
	}
	return len(sessions) + len(sockets)
}
