package live

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/signaling/wire"
)

// ReasonTooSlow closes a socket whose event subscription overflowed (PROTOCOL.md).
const ReasonTooSlow = "too slow"

// maxRef bounds a request's ref.
const maxRef = 64

var errLongRef = fmt.Errorf("%w: ref is at most %d bytes", ErrBadRequest, maxRef)

// Socket is what the live room needs of a WebSocket (signaling's sockets are one).
type Socket interface {
	// Send queues a message; a socket whose queue is full is closed as too slow.
	Send(m wire.Message)
	// SendWait queues a message, waiting while the queue is full, until it is queued (true),
	// cancel closes or the socket closes (false).
	SendWait(m wire.Message, cancel <-chan struct{}) bool
	// Offer queues the messages, or writes them at once (in one write) from the calling
	// goroutine; it never waits. False: the socket is closed, or its queue is full (the caller
	// closes it as too slow).
	Offer(ms ...wire.Message) bool
	// Close closes the socket (code 1008) with reason.
	Close(reason string)
	// Token is the socket's ?token= ("" if none).
	Token() string
	// RemoteIP is the client's address.
	RemoteIP() string
	// Done is closed when the socket closes.
	Done() <-chan struct{}
}

// Conn is the live state of one socket: at most one joined room and its event pusher.
// Handle and Close are called from the socket's read goroutine only.
type Conn struct {
	s     *Service
	sock  Socket
	guest string // this socket's guest subject, kept across joins (unless a join names another by its key)

	joined bool
	room   string
	id     Identity
	push   *pusher // push.go: the room's events into the socket
	feed   *Feed
}

// Handle runs one live message.
func (c *Conn) Handle(m wire.Message) {
	switch m := m.(type) {
	case wire.Join:
		c.join(m)
		return
	case wire.Leave:
		if len(m.Ref) > maxRef {
			c.fail("", errLongRef)
			return
		}
		c.leave()
		c.reply(wire.OK{Ref: m.Ref})
		return
	}
	ref := refOf(m)
	if len(ref) > maxRef {
		c.fail("", errLongRef)
		return
	}
	if !c.joined {
		c.fail(ref, ErrNotJoined)
		return
	}
	if c.s.revoked(c.id) {
		// The subject's tokens were revoked after this one was issued (on any node): the socket
		// leaves the room; joining again needs a new token.
		c.leave()
		c.fail(ref, fmt.Errorf("%w: your token was revoked", ErrUnauthorized))
		return
	}
	ctx, cancel := c.s.reqCtx()
	defer cancel()
	var err error
	switch m := m.(type) {
	case wire.ChatSend:
		err = c.chat(ctx, m)
	case wire.React:
		err = c.s.React(c.room, c.id, m.Kind)
	case wire.PlaceBid:
		err = c.bid(ctx, m)
	case wire.LotCreate:
		err = c.lot(ctx, m.Ref, func() (any, error) { return c.s.CreateLot(ctx, c.room, c.id, m.Lot) })
	case wire.LotStart:
		err = c.lot(ctx, m.Ref, func() (any, error) { return c.s.LotAction(ctx, c.room, c.id, ActionStart, m.LotID) })
	case wire.LotEnd:
		err = c.lot(ctx, m.Ref, func() (any, error) { return c.s.LotAction(ctx, c.room, c.id, ActionEnd, m.LotID) })
	case wire.LotCancel:
		err = c.lot(ctx, m.Ref, func() (any, error) { return c.s.LotAction(ctx, c.room, c.id, ActionCancel, m.LotID) })
	case wire.Moderate:
		if err = c.s.Moderate(ctx, c.room, c.id, m); err == nil {
			c.reply(wire.OK{Ref: m.Ref})
		}
	default:
		err = fmt.Errorf("%w: unexpected message %T", ErrBadRequest, m)
	}
	if err != nil {
		c.fail(ref, err)
	}
}

// Close ends the socket's live state.
func (c *Conn) Close() { c.leave() }

func (c *Conn) reply(m wire.Message) { c.sock.SendWait(m, nil) }

// fail answers err as an `error` message with its code.
func (c *Conn) fail(ref string, err error) {
	code, known := Code(err)
	if !known {
		c.s.log.Warn("live request failed", "room", c.room, "err", err)
	}
	c.reply(wire.Error{Code: code, Message: err.Error(), Ref: ref})
}

// join answers a join (joined, or an error, with its ref): the socket leaves its room (if any)
// only once the new join succeeded, so a refused join changes nothing.
func (c *Conn) join(m wire.Join) {
	if len(m.Ref) > maxRef {
		c.fail("", errLongRef)
		return
	}
	token := m.Token
	if token == "" {
		token = c.sock.Token()
	}
	id, err := c.s.Identify(m.Room, token, m.Name)
	if err != nil {
		c.fail(m.Ref, err)
		return
	}
	if id.Guest {
		// The guest named by a valid key (the same browser), else this socket's guest.
		if subject, ok := c.s.guests.subject(m.GuestKey); ok {
			id.Subject = subject
		} else if c.guest != "" {
			id.Subject = c.guest
		}
		c.guest = id.Subject
		id.IP = c.sock.RemoteIP()
	}
	ctx, cancel := c.s.reqCtx()
	defer cancel()
	push := &pusher{s: c.s, sock: c.sock, room: m.Room}
	feed, err := c.s.FollowFunc(ctx, m.Room, m.After, push.push)
	if err != nil {
		c.fail(m.Ref, err)
		return
	}
	joined, err := c.s.Snapshot(ctx, m.Room, id, feed, m.After)
	if err == nil {
		err = c.s.noteGuestIP(ctx, m.Room, id)
	}
	if err != nil {
		feed.Close()
		c.fail(m.Ref, err)
		return
	}
	joined.Ref = m.Ref
	c.s.mu.Lock()
	if c.s.closed {
		c.s.mu.Unlock()
		feed.Close()
		c.fail(m.Ref, ErrClosed)
		return
	}
	c.s.mu.Unlock()
	c.leave()
	c.joined, c.room, c.id, c.feed, c.push = true, m.Room, id, feed, push
	c.s.enc.join(m.Room)
	c.s.stats.sockets.Add(1)
	c.reply(joined)
	push.start(feed.Seq)
}

func (c *Conn) leave() {
	if !c.joined {
		return
	}
	c.feed.Close() // after it returns, the dispatcher pushes nothing more
	c.push.stop()
	c.s.enc.leave(c.room)
	c.s.stats.sockets.Add(-1)
	c.joined, c.feed, c.push = false, nil, nil
}

func (c *Conn) chat(ctx context.Context, m wire.ChatSend) error {
	if _, err := c.s.Chat(ctx, c.room, c.id, m.Text); err != nil {
		return err
	}
	c.reply(wire.OK{Ref: m.Ref})
	return nil
}

func (c *Conn) bid(ctx context.Context, m wire.PlaceBid) error {
	res, err := c.s.Bid(ctx, c.room, c.id, m.LotID, m.Amount, m.MaxAmount)
	if err != nil {
		return err
	}
	out := wire.BidResult{Ref: m.Ref, Accepted: res.Accepted, Code: res.Code, MinAmount: res.MinAmount, Lot: raw(res.Lot)}
	if res.Bid.LotID != "" {
		out.Bid = raw(res.Bid)
	}
	c.reply(out)
	return nil
}

func (c *Conn) lot(_ context.Context, ref string, do func() (any, error)) error {
	lot, err := do()
	if err != nil {
		return err
	}
	c.reply(wire.LotResult{Ref: ref, Lot: raw(lot)})
	return nil
}

// EventMessage is a stream event as an `event` message.
func EventMessage(e stream.Event) wire.Event {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return wire.Event{Room: e.Room, Seq: e.Seq, Kind: e.Kind, At: e.At, Data: data}
}

// refOf is a request's ref.
func refOf(m wire.Message) string {
	switch m := m.(type) {
	case wire.ChatSend:
		return m.Ref
	case wire.PlaceBid:
		return m.Ref
	case wire.LotCreate:
		return m.Ref
	case wire.LotStart:
		return m.Ref
	case wire.LotEnd:
		return m.Ref
	case wire.LotCancel:
		return m.Ref
	case wire.Moderate:
		return m.Ref
	}
	return ""
}
