package wire

import "encoding/json"

// The live room's messages (family "live", PROTOCOL.md "Live room (version 1.1)"): chat,
// reactions, lots and bids beside the video. Domain objects (a lot, a bid, a chat message, the
// room settings, the pinned product) travel as the JSON their live packages define (docs/AUCTION.md,
// docs/CHAT.md); this package keeps them as json.RawMessage so it stays a leaf and there is one
// definition of each.

// Minor is the protocol's minor version ("1.1"): the live room. Old clients keep working.
const Minor = "1.1"

// FeatureLive is announced in Hello.Features when the server runs the live room.
const FeatureLive = "live"

// Client → server messages of the live family.
type (
	// Join enters Room's live room: Token (a relaycast token; none = guest), Name (a guest's
	// display name), After (the last event seq the client has seen, 0 = none: resume after it),
	// GuestKey (a guest's key from an earlier Joined.You: the same guest again), Ref (echoed on
	// Joined and on the error refusing the join).
	Join struct {
		Room     string `json:"room,omitempty"`
		Token    string `json:"token,omitempty"`
		Name     string `json:"name,omitempty"`
		After    int64  `json:"after,omitempty"`
		GuestKey string `json:"guest_key,omitempty"`
		Ref      string `json:"ref,omitempty"`
	}
	// Leave leaves the joined room; the socket stays open.
	Leave struct {
		Ref string `json:"ref,omitempty"`
	}
	// ChatSend posts a chat message to the joined room.
	ChatSend struct {
		Text string `json:"text"`
		Ref  string `json:"ref,omitempty"`
	}
	// React sends a reaction (heart, fire, clap, wow, laugh).
	React struct {
		Kind string `json:"kind"`
	}
	// PlaceBid bids on a lot: Amount (a bid of exactly that much) or MaxAmount (a proxy bid).
	PlaceBid struct {
		LotID     string `json:"lot_id"`
		Amount    int64  `json:"amount,omitempty"`
		MaxAmount int64  `json:"max_amount,omitempty"`
		Ref       string `json:"ref,omitempty"`
	}
	// LotCreate queues a lot (Lot: the auction's lot input JSON).
	LotCreate struct {
		Ref string          `json:"ref,omitempty"`
		Lot json.RawMessage `json:"lot"`
	}
	// LotStart opens a queued lot.
	LotStart struct {
		LotID string `json:"lot_id"`
		Ref   string `json:"ref,omitempty"`
	}
	// LotEnd ends an open lot now (sold to the leader, or unsold).
	LotEnd struct {
		LotID string `json:"lot_id"`
		Ref   string `json:"ref,omitempty"`
	}
	// LotCancel cancels a queued lot or an open lot without bids.
	LotCancel struct {
		LotID string `json:"lot_id"`
		Ref   string `json:"ref,omitempty"`
	}
	// Moderate is a seller's or moderator's action: delete (ID), timeout (Subject, Seconds),
	// ban / unban (Subject), settings (Settings), pin (Product), unpin.
	Moderate struct {
		Ref      string          `json:"ref,omitempty"`
		Action   string          `json:"action"`
		ID       int64           `json:"id,omitempty"`
		Subject  string          `json:"subject,omitempty"`
		Seconds  int64           `json:"seconds,omitempty"`
		Settings json.RawMessage `json:"settings,omitempty"`
		Product  json.RawMessage `json:"product,omitempty"`
	}
)

// Server → client messages of the live family.
type (
	// Joined answers Join: the room's state at Seq (the last event included), then Event
	// messages follow with seq > Seq. Lot is the open lot; LastLot, while none is open, the
	// room's most recently ended one (null otherwise).
	Joined struct {
		Ref        string          `json:"ref,omitempty"`
		Room       string          `json:"room"`
		Seq        int64           `json:"seq"`
		ServerTime int64           `json:"server_time"`
		You        You             `json:"you"`
		Settings   json.RawMessage `json:"settings"`
		Lot        json.RawMessage `json:"lot"`
		LastLot    json.RawMessage `json:"last_lot"`
		Lots       json.RawMessage `json:"lots,omitempty"`
		Product    json.RawMessage `json:"product"`
		Chat       json.RawMessage `json:"chat"`
		// Resumed: Events holds every event after the join's After (apply them in order);
		// false: a snapshot (replace chat, lot, settings and product).
		Resumed bool    `json:"resumed"`
		Events  []Event `json:"events,omitempty"`
	}
	// Event is one room event (its kind and data: PROTOCOL.md, "Event kinds").
	Event struct {
		Room string          `json:"room"`
		Seq  int64           `json:"seq"`
		Kind string          `json:"kind"`
		At   int64           `json:"at"`
		Data json.RawMessage `json:"data"`
	}
	// BidResult answers PlaceBid: accepted, or refused with Code and the MinAmount that would
	// be valid.
	BidResult struct {
		Ref       string          `json:"ref,omitempty"`
		Accepted  bool            `json:"accepted"`
		Code      string          `json:"code,omitempty"`
		MinAmount int64           `json:"min_amount"`
		Lot       json.RawMessage `json:"lot"`
		Bid       json.RawMessage `json:"bid,omitempty"`
	}
	// LotResult answers LotCreate, LotStart, LotEnd and LotCancel with the lot after it.
	LotResult struct {
		Ref string          `json:"ref,omitempty"`
		Lot json.RawMessage `json:"lot"`
	}
	// OK answers a Moderate (and a Leave) that succeeded.
	OK struct {
		Ref string `json:"ref,omitempty"`
	}
)

// You is who the joined socket is. GuestKey (guests only) names this guest in a later Join.
type You struct {
	Subject  string   `json:"subject"`
	Name     string   `json:"name"`
	Guest    bool     `json:"guest"`
	Grants   []string `json:"grants"`
	GuestKey string   `json:"guest_key,omitempty"`
}

// Live message types.
const (
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeChat      = "chat"
	TypeReact     = "react"
	TypeBid       = "bid"
	TypeLotCreate = "lot_create"
	TypeLotStart  = "lot_start"
	TypeLotEnd    = "lot_end"
	TypeLotCancel = "lot_cancel"
	TypeModerate  = "moderate"
	TypeJoined    = "joined"
	TypeEvent     = "event"
	TypeBidResult = "bid_result"
	TypeLotResult = "lot_result"
	TypeOK        = "ok"
)

func (Join) MessageType() string      { return TypeJoin }
func (Leave) MessageType() string     { return TypeLeave }
func (ChatSend) MessageType() string  { return TypeChat }
func (React) MessageType() string     { return TypeReact }
func (PlaceBid) MessageType() string  { return TypeBid }
func (LotCreate) MessageType() string { return TypeLotCreate }
func (LotStart) MessageType() string  { return TypeLotStart }
func (LotEnd) MessageType() string    { return TypeLotEnd }
func (LotCancel) MessageType() string { return TypeLotCancel }
func (Moderate) MessageType() string  { return TypeModerate }
func (Joined) MessageType() string    { return TypeJoined }
func (Event) MessageType() string     { return TypeEvent }
func (BidResult) MessageType() string { return TypeBidResult }
func (LotResult) MessageType() string { return TypeLotResult }
func (OK) MessageType() string        { return TypeOK }

// LiveClientMessages and LiveServerMessages are the live family's messages (also part of
// ClientMessages / ServerMessages).
var (
	LiveClientMessages = []Message{Join{}, Leave{}, ChatSend{}, React{}, PlaceBid{}, LotCreate{}, LotStart{}, LotEnd{}, LotCancel{}, Moderate{}}
	LiveServerMessages = []Message{Joined{}, Event{}, BidResult{}, LotResult{}, OK{}}
)
