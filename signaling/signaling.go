// Package signaling is relaycast's front door to the SFU: WHIP/WHEP over HTTP for OBS, GStreamer
// and other players, a WebSocket JSON protocol (PROTOCOL.md) for relaycast's own pages, and the
// room list API. It checks tokens, room names and connection caps before anything reaches the SFU.
package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/ratelimit"
	"github.com/relaycast/relaycast/sfu"
)

// SFU is what signaling needs from the media server.
type SFU interface {
	Publish(ctx context.Context, p sfu.PublishParams) (*sfu.Publisher, string, error)
	Subscribe(ctx context.Context, p sfu.SubscribeParams) (*sfu.Subscriber, string, error)
	Watch(room string) (<-chan sfu.Event, func())
	Room(name string) (sfu.RoomInfo, bool)
	Rooms() []sfu.RoomInfo
}

// Authorizer checks a token for a grant on a room.
type Authorizer interface {
	Authorize(token, room string, g auth.Grant) (auth.Claims, error)
}

// ICEServer is a STUN/TURN server announced to clients (WHIP/WHEP Link headers).
type ICEServer struct {
	URL, Username, Credential string
}

// Params configures a Server.
type Params struct {
	SFU    SFU
	Auth   Authorizer
	Logger *slog.Logger
	// ViewerAuth requires a subscribe token to watch.
	ViewerAuth bool
	// AllowedOrigins are extra origins (scheme://host[:port]) allowed to open /ws.
	AllowedOrigins []string
	ICEServers     []ICEServer
	// MaxConns / MaxConnsPerIP cap sessions (peer connections and WebSockets); 0 = no cap.
	MaxConns, MaxConnsPerIP int
	// Unlimited, when set, exempts a WHEP request from MaxConns/MaxConnsPerIP: another cluster
	// node's relay pull (a relay token), one session however many viewers it serves — refusing
	// it would refuse all of them, and every pull of an edge comes from that edge's address.
	Unlimited func(*http.Request) bool
	// ClientIP names a request's client for the per-address caps (default: the TCP peer; behind
	// a load balancer, ratelimit.Proxies.ClientIP with --trusted-proxies).
	ClientIP func(*http.Request) string
	// MessageLimit caps the messages one WebSocket sends (a token bucket; off: no cap): a message
	// over it is dropped and answered with a rate_limited error (at most one a second).
	// RateLimited, when set, counts each dropped message.
	MessageLimit ratelimit.Rule
	RateLimited  func()
	// NegotiateTimeout bounds one offer/answer (default 10s).
	NegotiateTimeout time.Duration
	// SessionNode, when set, names this node in every WHIP/WHEP session's Location
	// (?node=ID); ForwardSession serves a PATCH or DELETE of a session another node holds (a
	// load balancer sent it here; false: 404 as for an unknown session). See forward.go.
	SessionNode    func() string
	ForwardSession func(w http.ResponseWriter, r *http.Request, node string) bool
	// Families are extra WebSocket message families (the live room's chat, auctions), registered
	// after the built-in session and media families (PROTOCOL.md, "Message families").
	Families []Family
}

// Server serves the signaling endpoints.
type Server struct {
	p       Params
	log     *slog.Logger
	limiter *limiter
	reg     *registry // WebSocket message types → families

	mu       sync.Mutex
	sessions map[string]*httpSession // WHIP/WHEP sessions by id
	sockets  map[*wsConn]struct{}
	// unusedWrites is the WebSocket upgrader's write buffer pool: the server writes every frame
	// itself (wsout.go), so gorilla never takes a buffer from it.
	unusedWrites sync.Pool
	closed       bool
	wg           sync.WaitGroup
	draining     atomic.Bool // Drain ran (drain.go)
}

type session interface {
	ID() string
	Room() string
	AddICECandidate(webrtc.ICECandidateInit) error
	Done() <-chan struct{}
	Close() error
}

type httpSession struct {
	session
	publish bool
	// room and token are what the session was opened with ("" token: none was needed), for
	// Revalidate.
	room, token string
}

// New builds a Server. It panics if two families claim one message type (a wiring mistake, as
// http.ServeMux panics on a pattern registered twice).
func New(p Params) *Server {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.NegotiateTimeout <= 0 {
		p.NegotiateTimeout = 10 * time.Second
	}
	s := &Server{
		p: p, log: p.Logger.With("component", "signaling"),
		limiter:  &limiter{max: p.MaxConns, perIP: p.MaxConnsPerIP, byIP: map[string]int{}},
		sessions: map[string]*httpSession{}, sockets: map[*wsConn]struct{}{},
	}
	reg, err := newRegistry(append([]Family{sessionFamily{}, mediaFamily{s}}, p.Families...)...)
	if err != nil {
		panic(err)
	}
	s.reg = reg
	return s
}

// Register mounts the endpoints on mux: /whip/, /whep/, /ws (GET /api/rooms is httpapi's).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/whip/{room}", s.handleWHIP)
	mux.HandleFunc("/whip/{room}/{id}", s.handleSession)
	mux.HandleFunc("/whep/{room}", s.handleWHEP)
	mux.HandleFunc("/whep/{room}/{id}", s.handleSession)
	mux.HandleFunc("/ws", s.handleWS)
}

// Close ends every session and socket and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	sess := make([]*httpSession, 0, len(s.sessions))
	for _, x := range s.sessions {
		sess = append(sess, x)
	}
	socks := make([]*wsConn, 0, len(s.sockets))
	for c := range s.sockets {
		socks = append(socks, c)
	}
	s.mu.Unlock()
	for _, x := range sess {
		_ = x.Close()
	}
	for _, c := range socks {
		c.shutdown("server shutting down")
	}
	s.wg.Wait()
	return nil
}

// roomRe is the room-name charset: letters, digits, '_' and '-', 1..64, not starting with a symbol.
var roomRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidRoom reports whether name is an acceptable room name.
func ValidRoom(name string) bool { return roomRe.MatchString(name) }

var (
	errBadRoom = errors.New("room names are 1-64 characters from A-Z a-z 0-9 _ - and start with a letter or digit")
	errBusy    = errors.New("server is at its connection limit, try again later")
)

// limiter caps concurrent sessions in total and per client IP.
type limiter struct {
	mu         sync.Mutex
	max, perIP int
	total      int
	byIP       map[string]int
}

func (l *limiter) acquire(ip string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.total >= l.max) || (l.perIP > 0 && l.byIP[ip] >= l.perIP) {
		return nil, false
	}
	l.total++
	l.byIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.total--
			if l.byIP[ip]--; l.byIP[ip] <= 0 {
				delete(l.byIP, ip)
			}
			l.mu.Unlock()
		})
	}, true
}

// clientIP is the client of r for the per-address caps (Params.ClientIP).
func (s *Server) clientIP(r *http.Request) string {
	if s.p.ClientIP != nil {
		return s.p.ClientIP(r)
	}
	return peerIP(r)
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusOf maps SFU and auth errors to an HTTP status and a WebSocket error code.
func statusOf(err error) (int, string) {
	var redirect *Redirect
	switch {
	case errors.As(err, &redirect):
		return http.StatusTemporaryRedirect, codeRedirect
	case errors.Is(err, errBadRoom), errors.Is(err, sfu.ErrBadOffer), errors.Is(err, sfu.ErrBadQuality):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrForbidden), errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrExpired):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, sfu.ErrRoomNotLive):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, sfu.ErrRoomBusy):
		return http.StatusConflict, "conflict"
	case errors.Is(err, sfu.ErrUnsupported):
		return http.StatusNotAcceptable, "unsupported"
	case errors.Is(err, errBusy), errors.Is(err, sfu.ErrClosed):
		return http.StatusServiceUnavailable, "busy"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "internal"
	}
	return http.StatusInternalServerError, "internal"
}
