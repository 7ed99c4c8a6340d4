package signaling

import (
	"fmt"

	"github.com/relaycast/relaycast/signaling/wire"
)

// Family is one family of WebSocket message types (PROTOCOL.md, "Message families"): the
// session family (ping) and the media family (publish, watch, quality, candidate, stop) are
// built in; the live room's chat and auction families plug in through Params.Families without
// touching them. Each client message type belongs to exactly one family.
type Family interface {
	// Types are the client message types the family handles.
	Types() []string
	// Decode parses and checks one message of one of its types (env.Decode fills a message
	// struct). An error wrapping ErrProtocol closes the socket; any other is answered with an
	// `error` message (its code from the error, as for the built-in families).
	Decode(env wire.Envelope) (wire.Message, error)
	// Open starts the family's state for one socket, on the socket's first message of the family.
	Open(s Socket) Handler
}

// Handler is a family's state on one socket. The socket calls it from its one read goroutine.
type Handler interface {
	// Handle runs one decoded message.
	Handle(m wire.Message)
	// Close ends the family's state when the socket closes; it must stop what it started.
	Close()
}

// Socket is what a family's handler can do with its WebSocket.
type Socket interface {
	// Send queues a server message (a socket that does not read its messages is closed).
	Send(m wire.Message)
	// SendError answers with an `error` message for err.
	SendError(err error)
	// Token is the socket's ?token= query parameter ("" if none).
	Token() string
	// RemoteIP is the client's address (the connection's, as the per-IP session limit sees it).
	RemoteIP() string
	// Done is closed when the socket closes.
	Done() <-chan struct{}
	// SendWait queues m after what was sent before it (true), or reports that the socket is
	// closed (false). The socket's queue is bounded in bytes (1 MiB): a client that lets it fill
	// is closed as too slow, so SendWait does not wait; cancel is kept for callers that pass one.
	SendWait(m wire.Message, cancel <-chan struct{}) bool
	// Offer queues the messages (in order) after what was sent before them, or writes them at
	// once, in one write, from the calling goroutine when nothing is queued; it never waits for
	// the client (a dispatcher can offer a batch of events to thousands of sockets). False: the
	// socket is closed, or its queue is full — the client does not read, and the caller closes
	// it (e.g. as "too slow").
	Offer(ms ...wire.Message) bool
	// Close closes the socket with code 1008 (policy violation) and reason (e.g. "too slow").
	Close(reason string)
}

// Featurer is a Family that announces an optional feature in `hello` ("features", e.g. "live").
type Featurer interface {
	Feature() string
}

// registry maps client message types to their families.
type registry struct {
	families []Family
	byType   map[string]int // index into families
	features []string       // of the families that are Featurers, for hello
}

func newRegistry(fams ...Family) (*registry, error) {
	r := &registry{byType: map[string]int{}}
	for _, f := range fams {
		i := len(r.families)
		r.families = append(r.families, f)
		if ft, ok := f.(Featurer); ok && ft.Feature() != "" {
			r.features = append(r.features, ft.Feature())
		}
		for _, t := range f.Types() {
			if t == "" {
				return nil, fmt.Errorf("%w: a family registers an empty message type", ErrFamily)
			}
			if _, dup := r.byType[t]; dup {
				return nil, fmt.Errorf("%w: message type %q registered twice", ErrFamily, t)
			}
			r.byType[t] = i
		}
	}
	return r, nil
}

// decode opens the envelope and lets the type's family decode the message; it returns the
// family's index. Envelope errors and unknown types are protocol violations.
func (r *registry) decode(data []byte) (int, wire.Message, error) {
	env, err := wire.Open(data)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	i, ok := r.byType[env.Type]
	if !ok {
		return 0, nil, fmt.Errorf("%w: unknown type %q", ErrProtocol, env.Type)
	}
	m, err := r.families[i].Decode(env)
	return i, m, err
}

// decodeInto decodes env into m; a malformed message is a protocol violation.
func decodeInto(env wire.Envelope, m any) error {
	if err := env.Decode(m); err != nil {
		return fmt.Errorf("%w: invalid JSON: %v", ErrProtocol, err)
	}
	return nil
}

// sessionFamily answers `ping` with `pong`.
type sessionFamily struct{}

func (sessionFamily) Types() []string { return []string{wire.TypePing} }

func (sessionFamily) Decode(env wire.Envelope) (wire.Message, error) {
	var m wire.Ping
	return m, decodeInto(env, &m)
}

func (sessionFamily) Open(s Socket) Handler { return sessionHandler{s} }

type sessionHandler struct{ s Socket }

func (h sessionHandler) Handle(wire.Message) { h.s.Send(wire.Pong{}) }
func (sessionHandler) Close()                {}
