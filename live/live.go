// Package live is the live room beside the video: it joins sockets and requests to a room's
// chat (live/chat), auction (live/auction) and ordered event stream (live/stream), checks who
// may do what (identity.go), and speaks the WebSocket family "live" of signaling/PROTOCOL.md
// ("Live room (version 1.1)"). It knows nothing of media and does not import signaling: its
// Socket interface is what signaling's sockets already are, and the wiring (server/live.go)
// registers Service as a signaling family.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/signaling/wire"
)

// Auth verifies tokens (an *auth.Signer).
type Auth interface {
	Verify(token string) (auth.Claims, error)
}

// revoker is what an Auth may also do (auth.Signer): say whether a verified token was revoked
// since (a joined socket keeps its identity; its actions ask again).
type revoker interface {
	Revoked(c auth.Claims) bool
}

// revoked reports whether id's token was revoked after it was issued (guests never are).
func (s *Service) revoked(id Identity) bool {
	r, ok := s.p.Auth.(revoker)
	if !ok || id.Guest {
		return false
	}
	return r.Revoked(auth.Claims{Subject: id.Subject, IssuedAt: id.IssuedAt})
}

// Events is what the live room needs of the room's event stream (a *stream.Log).
type Events interface {
	Subscribe(room string) (<-chan stream.Event, func())
	// SubscribeFunc hands the room's events to fn, in batches (stream.Params.Batch), from the
	// dispatcher's goroutine (sockets).
	SubscribeFunc(room string, fn func([]stream.Event) bool) (stop func())
	After(ctx context.Context, room string, after int64, limit int) ([]stream.Event, error)
	Seq(ctx context.Context, room string) (int64, error)
	// Key is a room's Redis key for suffix ("<prefix>:{<room>}:<suffix>").
	Key(room, suffix string) string
}

// Auction is what the live room needs of the auction engine (an *auction.Engine).
type Auction interface {
	Create(ctx context.Context, room string, in auction.LotInput) (auction.Lot, error)
	Start(ctx context.Context, room, id string) (auction.Lot, error)
	End(ctx context.Context, room, id string) (auction.Lot, error)
	Cancel(ctx context.Context, room, id string) (auction.Lot, error)
	Bid(ctx context.Context, r auction.BidRequest) (auction.BidResult, error)
	Get(ctx context.Context, room, id string) (auction.Lot, error)
	List(ctx context.Context, room string) ([]auction.Lot, error)
	Current(ctx context.Context, room string) (*auction.Lot, error)
	Bids(ctx context.Context, room, id string) ([]auction.Bid, error)
}

// Chat is what the live room needs of the chat service (a *chat.Service).
type Chat interface {
	Send(ctx context.Context, room string, from chat.Sender, text string) (chat.Message, error)
	History(ctx context.Context, room string, after int64, limit int) ([]chat.Message, error)
	Delete(ctx context.Context, room string, id int64, by string) error
	Timeout(ctx context.Context, room, subject string, d time.Duration, by string) error
	Ban(ctx context.Context, room, subject, by string) error
	Unban(ctx context.Context, room, subject, by string) error
	Restriction(ctx context.Context, room, subject string) (banned bool, until int64, err error)
	Settings(ctx context.Context, room string) (chat.Settings, error)
	SetSettings(ctx context.Context, room string, s chat.Settings, by string) (chat.Settings, error)
	React(room, subject, kind string) error
	Pin(ctx context.Context, room string, p chat.Product, by string) (chat.Product, error)
	Unpin(ctx context.Context, room, by string) error
	Product(ctx context.Context, room string) (*chat.Product, error)
}

// Params configures a Service.
type Params struct {
	Redis   redis.UniversalClient
	Log     Events
	Auction Auction
	Chat    Chat
	Auth    Auth
	Logger  *slog.Logger
	// HistoryLimit is how many chat messages a fresh join gets (default 50).
	HistoryLimit int
	// Timeout bounds one request's work (default 5s).
	Timeout time.Duration
	// GuestKey signs the guest keys (guest.go): a key derived from the auth secret with
	// GuestKeyPurpose, the same on every node. Empty: a random key (guests stay themselves only
	// while this process runs).
	GuestKey []byte
	// GuestIPBan is how long a guest's ban also holds for their address (default
	// DefaultGuestIPBan; negative: a ban does not restrict the address). A time-out holds for
	// the address as long as it lasts.
	GuestIPBan time.Duration
}

// Service is the live room of one node.
type Service struct {
	p   Params
	log *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	endOnce sync.Once
	ended   chan struct{} // closed by EndStreams: SSE streams end
	enc     encCache      // room events encoded once for every socket
	guests  guestKeys     // guest.go
	bids    *limiter      // bids per bidder and room (limit.go)
	stats   stats         // metrics.go
}

// New builds a Service.
func New(p Params) (*Service, error) {
	if p.Redis == nil || p.Log == nil || p.Auction == nil || p.Chat == nil || p.Auth == nil {
		return nil, fmt.Errorf("live: Redis, Log, Auction, Chat and Auth are required")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.HistoryLimit <= 0 {
		p.HistoryLimit = 50
	}
	if p.Timeout <= 0 {
		p.Timeout = 5 * time.Second
	}
	if p.GuestIPBan == 0 {
		p.GuestIPBan = DefaultGuestIPBan
	}
	s := &Service{p: p, log: p.Logger.With("component", "live"), ended: make(chan struct{}),
		bids: newLimiter(bidRate, bidBurst), guests: newGuestKeys(p.GuestKey)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close refuses new joins and ends the SSE streams (the sockets are signaling's: close
// signaling first; their event subscriptions end with them, or with the stream's Close).
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.EndStreams()
	return nil
}

// EndStreams ends the HTTP event streams (SSE) following the rooms: register it with
// http.Server.RegisterOnShutdown, which does not wait for such long requests otherwise.
func (s *Service) EndStreams() { s.endOnce.Do(func() { close(s.ended) }) }

// Ended is closed by EndStreams (and Close).
func (s *Service) Ended() <-chan struct{} { return s.ended }

// Feature is what hello announces ("live").
func (s *Service) Feature() string { return wire.FeatureLive }

// Types are the client message types of the live family.
func (s *Service) Types() []string {
	out := make([]string, 0, len(wire.LiveClientMessages))
	for _, m := range wire.LiveClientMessages {
		out = append(out, m.MessageType())
	}
	return out
}

// Decode parses one live message. Only a message that is not its type's JSON is an error
// (wrapping ErrProtocol); the fields are checked when the message is handled, so the error
// answer can carry the request's ref.
func (s *Service) Decode(env wire.Envelope) (wire.Message, error) {
	var m wire.Message
	var err error
	switch env.Type {
	case wire.TypeJoin:
		m, err = decode[wire.Join](env)
	case wire.TypeLeave:
		m, err = decode[wire.Leave](env)
	case wire.TypeChat:
		m, err = decode[wire.ChatSend](env)
	case wire.TypeReact:
		m, err = decode[wire.React](env)
	case wire.TypeBid:
		m, err = decode[wire.PlaceBid](env)
	case wire.TypeLotCreate:
		m, err = decode[wire.LotCreate](env)
	case wire.TypeLotStart:
		m, err = decode[wire.LotStart](env)
	case wire.TypeLotEnd:
		m, err = decode[wire.LotEnd](env)
	case wire.TypeLotCancel:
		m, err = decode[wire.LotCancel](env)
	case wire.TypeModerate:
		m, err = decode[wire.Moderate](env)
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrProtocol, env.Type)
	}
	return m, err
}

func decode[T wire.Message](env wire.Envelope) (wire.Message, error) {
	var m T
	if err := env.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON for %q: %v", ErrProtocol, env.Type, err)
	}
	return m, nil
}

// Open starts the live state of one socket.
func (s *Service) Open(sock Socket) *Conn {
	return &Conn{s: s, sock: sock}
}

// reqCtx bounds one request.
func (s *Service) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.p.Timeout)
}

// Identify verifies token for room (a guest with name when token is empty): the one way a
// socket and a REST request become an Identity.
func (s *Service) Identify(room, token, guestName string) (Identity, error) {
	if !ValidRoom(room) {
		return Identity{}, fmt.Errorf("%w: room names are 1-64 characters from A-Z a-z 0-9 _ - and start with a letter or digit", ErrBadRequest)
	}
	if token == "" {
		name, err := validGuestName(guestName)
		if err != nil {
			return Identity{}, err
		}
		return Guest(name), nil
	}
	c, err := s.p.Auth.Verify(token)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	id := FromClaims(c, token)
	if err := id.ForRoom(room); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// validGuestName is chat's display-name rule; it returns the name trimmed.
func validGuestName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: a guest needs a name (or join with a token)", ErrBadRequest)
	}
	n, err := chat.ValidName(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return n, nil
}

// serverTime is Redis's clock in ms (the clock that decides everything).
func (s *Service) serverTime(ctx context.Context) int64 {
	t, err := s.p.Redis.Time(ctx).Result()
	if err != nil {
		return time.Now().UnixMilli()
	}
	return t.UnixMilli()
}

// raw marshals v for a wire field (null for nil).
func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
