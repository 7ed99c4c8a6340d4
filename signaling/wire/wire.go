// Package wire holds the message types of relaycast's WebSocket signaling protocol
// (signaling/PROTOCOL.md) in one place: the server (package signaling) and the Go client
// (client/ws.go) use them, and web/ui/src/wire.ts declares the same types for the pages
// (TestWireTSMatches keeps the two in step).
//
// Every message is one JSON object whose "type" names it (the envelope); the other fields are
// the message's own. A message type belongs to one family (media, session; chat and auction
// later), which decodes and handles it on the server.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// Version is the protocol version announced in Hello.
const Version = 1

// Message is one protocol message: its wire type and its fields (json tags).
type Message interface {
	MessageType() string
}

// Client → server messages.
type (
	// Publish starts broadcasting to Room with an SDP offer.
	Publish struct {
		Room  string `json:"room,omitempty"`
		SDP   string `json:"sdp,omitempty"`
		Token string `json:"token,omitempty"`
	}
	// Watch watches Room; without SDP the server answers Waiting or Live and sends the room's status.
	Watch struct {
		Room    string `json:"room,omitempty"`
		SDP     string `json:"sdp,omitempty"`
		Token   string `json:"token,omitempty"`
		Quality string `json:"quality,omitempty"`
	}
	// SetQuality is the viewer's simulcast layer choice ("quality").
	SetQuality struct {
		Quality string `json:"quality,omitempty"`
	}
	// Candidate is a trickled ICE candidate; nil (or an empty candidate) is end-of-candidates.
	Candidate struct {
		Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	}
	// Stop ends the socket's current publish or watch session.
	Stop struct{}
	// Ping asks for a Pong.
	Ping struct{}
)

// Server → client messages.
type (
	// Hello is the first message on every socket.
	Hello struct {
		Version    int         `json:"version,omitempty"`
		ICEServers []ICEServer `json:"ice_servers,omitempty"`
		// Features are optional parts the server runs ("live": the live room, version 1.1).
		Features []string `json:"features,omitempty"`
	}
	// Answer is the SDP answer to a Publish or Watch offer.
	Answer struct {
		SDP string `json:"sdp,omitempty"`
	}
	// Waiting: the room is not live; Live follows when it is.
	Waiting struct {
		Room string `json:"room,omitempty"`
	}
	// Live: the room (re)started.
	Live struct {
		Room string `json:"room,omitempty"`
	}
	// Status is the room's state, sent on every change.
	Status struct {
		Room    string    `json:"room,omitempty"`
		Live    bool      `json:"live"`
		Viewers int       `json:"viewers"`
		Since   time.Time `json:"since"`
	}
	// Ended: the broadcast ended.
	Ended struct {
		Room   string `json:"room,omitempty"`
		Reason string `json:"reason,omitempty"`
	}
	// Error: a request failed (Code: bad_request, unauthorized, not_found, conflict, unsupported,
	// busy, internal, redirect; the live room adds its codes, PROTOCOL.md). Ref echoes the
	// request's ref; MinAmount is the next valid bid of a refused bid (too_low, lot_closed); URL
	// is where a "redirect" sends the publish or watch (another node of the cluster).
	Error struct {
		Code      string `json:"code,omitempty"`
		Message   string `json:"message,omitempty"`
		Ref       string `json:"ref,omitempty"`
		MinAmount int64  `json:"min_amount,omitempty"`
		URL       string `json:"url,omitempty"`
		// RetryAfterMS: a rate_limited refusal says when to send again.
		RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	}
	// Pong answers Ping.
	Pong struct{}
	// Layer is what a simulcast or SVC viewer is sent.
	Layer struct {
		Quality   string   `json:"quality,omitempty"`
		Layer     string   `json:"layer"`
		Layers    []string `json:"layers,omitempty"`
		AudioOnly bool     `json:"audio_only"`
	}
)

// ICEServer is a STUN/TURN server in RTCIceServer shape.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Message types.
const (
	TypePublish   = "publish"
	TypeWatch     = "watch"
	TypeQuality   = "quality"
	TypeCandidate = "candidate"
	TypeStop      = "stop"
	TypePing      = "ping"
	TypeHello     = "hello"
	TypeAnswer    = "answer"
	TypeWaiting   = "waiting"
	TypeLive      = "live"
	TypeStatus    = "status"
	TypeEnded     = "ended"
	TypeError     = "error"
	TypePong      = "pong"
	TypeLayer     = "layer"
)

func (Publish) MessageType() string    { return TypePublish }
func (Watch) MessageType() string      { return TypeWatch }
func (SetQuality) MessageType() string { return TypeQuality }
func (Candidate) MessageType() string  { return TypeCandidate }
func (Stop) MessageType() string       { return TypeStop }
func (Ping) MessageType() string       { return TypePing }
func (Hello) MessageType() string      { return TypeHello }
func (Answer) MessageType() string     { return TypeAnswer }
func (Waiting) MessageType() string    { return TypeWaiting }
func (Live) MessageType() string       { return TypeLive }
func (Status) MessageType() string     { return TypeStatus }
func (Ended) MessageType() string      { return TypeEnded }
func (Error) MessageType() string      { return TypeError }
func (Pong) MessageType() string       { return TypePong }
func (Layer) MessageType() string      { return TypeLayer }

// ClientMessages and ServerMessages are every message of the protocol, one value each (for
// registries and for the wire.ts check).
var (
	ClientMessages = append([]Message{Publish{}, Watch{}, SetQuality{}, Candidate{}, Stop{}, Ping{}}, LiveClientMessages...)
	ServerMessages = append([]Message{Hello{}, Answer{}, Waiting{}, Live{}, Status{}, Ended{}, Error{}, Pong{}, Layer{}, Reconnect{}}, LiveServerMessages...)
)

// Envelope is what every message shares: its type. Data is the whole JSON object, which the
// type's family decodes into its message.
type Envelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"-"`
}

// ErrEnvelope: the data is not one JSON object with a string "type".
var ErrEnvelope = errors.New("bad message envelope")

// Open reads the envelope of one message: exactly one JSON object with a non-empty string type.
func Open(data []byte) (Envelope, error) {
	var e Envelope
	if err := decodeOne(data, &e); err != nil {
		return e, fmt.Errorf("%w: invalid JSON: %v", ErrEnvelope, err)
	}
	if e.Type == "" {
		return e, fmt.Errorf("%w: missing type", ErrEnvelope)
	}
	e.Data = data
	return e, nil
}

// Decode decodes the envelope's message into m (a pointer to a message struct).
func (e Envelope) Decode(m any) error { return decodeOne(e.Data, m) }

// Encoded is a message encoded once (NewEncoded) and sent as is: for fan-out, where many
// sockets send the same message (a room event) and encoding it for each would cost more than
// sending it.
type Encoded struct {
	typ string
	b   []byte
}

// NewEncoded encodes m once.
func NewEncoded(m Message) (Encoded, error) {
	b, err := Encode(m)
	return Encoded{typ: m.MessageType(), b: b}, err
}

// MessageType is the encoded message's type.
func (e Encoded) MessageType() string { return e.typ }

// Encode marshals m with its type first: {"type":"...", fields...}. An Encoded message is
// returned as encoded (a slice the caller may append to: appending copies it).
func Encode(m Message) ([]byte, error) {
	if e, ok := m.(Encoded); ok {
		return e.b[:len(e.b):len(e.b)], nil
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	typ, _ := json.Marshal(m.MessageType())
	out := make([]byte, 0, len(body)+len(typ)+9)
	out = append(out, `{"type":`...)
	out = append(out, typ...)
	if len(body) > 2 { // not "{}"
		out = append(out, ',')
		out = append(out, body[1:]...)
		return out, nil
	}
	return append(out, '}'), nil
}
