package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/signaling/wire"
)

// The room's operations, each checking the identity's right to it first: the WebSocket family
// (conn.go) and the REST API (httpapi/lots.go, chat.go) both call these, so the rules live in
// one place.

// Lot actions of LotAction.
const (
	ActionStart  = "start"
	ActionEnd    = "end"
	ActionCancel = "cancel"
)

// maxTimeout bounds a moderator's timeout.
const maxTimeout = 24 * time.Hour

// Chat posts text to room as id.
func (s *Service) Chat(ctx context.Context, room string, id Identity, text string) (chat.Message, error) {
	if id.ChatNeedsSettings(room) {
		st, err := s.p.Chat.Settings(ctx, room)
		if err != nil {
			return chat.Message{}, err
		}
		if err := id.CheckChat(room, st.GuestChat); err != nil {
			return chat.Message{}, err
		}
	}
	if err := s.checkGuestIP(ctx, room, id); err != nil {
		return chat.Message{}, err
	}
	return s.p.Chat.Send(ctx, room, chat.Sender{Subject: id.Subject, Name: id.Name, Guest: id.Guest, Moderator: id.CanManage(room), Role: id.Role(room)}, text)
}

// React counts a reaction of id in room.
func (s *Service) React(room string, id Identity, kind string) error {
	if !chat.ValidReaction(kind) {
		return fmt.Errorf("%w: unknown reaction kind %q (heart, fire, clap, wow, laugh)", ErrBadRequest, kind)
	}
	return s.p.Chat.React(room, id.Subject, kind)
}

// Bid places id's bid on lot: amount, or maxAmount for a proxy bid (exactly one).
func (s *Service) Bid(ctx context.Context, room string, id Identity, lot string, amount, maxAmount int64) (auction.BidResult, error) {
	if err := id.CheckBid(room); err != nil {
		return auction.BidResult{}, err
	}
	if err := validLotID(lot); err != nil {
		return auction.BidResult{}, err
	}
	if amount < 0 || maxAmount < 0 || (amount == 0) == (maxAmount == 0) {
		return auction.BidResult{}, fmt.Errorf("%w: a bid needs exactly one of amount or max_amount, a positive number of minor units", ErrBadRequest)
	}
	if !s.bids.allow(room+"\x00"+id.Subject, time.Now()) {
		s.stats.bidsLimit.Add(1)
		return auction.BidResult{}, fmt.Errorf("%w: at most %d bids a second (bursts of %d)", ErrRateLimited, bidRate, bidBurst)
	}
	// A bidder banned from the room (by its moderators, on any node: the ban is in Redis) bids
	// no more; a Redis that cannot say refuses the bid rather than take one it should not.
	banned, _, err := s.p.Chat.Restriction(ctx, room, id.Subject)
	if err != nil {
		return auction.BidResult{}, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	if banned {
		return auction.BidResult{}, fmt.Errorf("%w: you are banned from this room", chat.ErrBanned)
	}
	res, err := s.p.Auction.Bid(ctx, auction.BidRequest{Room: room, LotID: lot, Subject: id.Subject, Name: id.Name, Amount: amount, MaxAmount: maxAmount})
	if err == nil {
		s.stats.bids.Add(1)
		if res.Accepted {
			s.stats.accepted.Add(1)
		}
	}
	return res, err
}

// CreateLot queues a lot (in: the lot input's JSON).
func (s *Service) CreateLot(ctx context.Context, room string, id Identity, in json.RawMessage) (auction.Lot, error) {
	if err := id.CheckManage(room, "creating a lot"); err != nil {
		return auction.Lot{}, err
	}
	var li auction.LotInput
	if len(in) == 0 || bytes.Equal(in, []byte("null")) {
		return auction.Lot{}, fmt.Errorf("%w: lot_create needs a lot", ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&li); err != nil {
		return auction.Lot{}, fmt.Errorf("%w: lot: %v", ErrBadRequest, err)
	}
	return s.p.Auction.Create(ctx, room, li)
}

// LotAction starts, ends or cancels a lot.
func (s *Service) LotAction(ctx context.Context, room string, id Identity, action, lot string) (auction.Lot, error) {
	if err := id.CheckManage(room, action+" a lot"); err != nil {
		return auction.Lot{}, err
	}
	if err := validLotID(lot); err != nil {
		return auction.Lot{}, err
	}
	switch action {
	case ActionStart:
		return s.p.Auction.Start(ctx, room, lot)
	case ActionEnd:
		return s.p.Auction.End(ctx, room, lot)
	case ActionCancel:
		return s.p.Auction.Cancel(ctx, room, lot)
	}
	return auction.Lot{}, fmt.Errorf("%w: unknown lot action %q", ErrBadRequest, action)
}

// Lot is one lot of room.
func (s *Service) Lot(ctx context.Context, room, lot string) (auction.Lot, error) {
	if err := validLotID(lot); err != nil {
		return auction.Lot{}, err
	}
	return s.p.Auction.Get(ctx, room, lot)
}

// Lots are the lots of room.
func (s *Service) Lots(ctx context.Context, room string) ([]auction.Lot, error) {
	return s.p.Auction.List(ctx, room)
}

// Bids is a lot's bid log, in order. Only the room's managers see the bidders' subjects and
// proxy maxima; everyone else sees name, amount, time and outcome.
func (s *Service) Bids(ctx context.Context, room string, viewer Identity, lot string) ([]auction.Bid, error) {
	if err := validLotID(lot); err != nil {
		return nil, err
	}
	bids, err := s.p.Auction.Bids(ctx, room, lot)
	if err != nil {
		return nil, err
	}
	if !viewer.CanSeeSubjects(room) {
		for i := range bids {
			bids[i] = PublicBid(bids[i])
		}
	}
	return bids, nil
}

// PublicBid is a bid log entry without the bidder's subject, the leader's subject and the
// proxy maximum.
func PublicBid(b auction.Bid) auction.Bid {
	b.Subject, b.Leader, b.MaxAmount = "", nil, 0
	return b
}

// History is room's chat after `after` (0: the last limit messages), oldest first.
func (s *Service) History(ctx context.Context, room string, after int64, limit int) ([]chat.Message, error) {
	if after < 0 {
		return nil, fmt.Errorf("%w: after must not be negative", ErrBadRequest)
	}
	return s.p.Chat.History(ctx, room, after, limit)
}

// Moderate runs a moderator's action (PROTOCOL.md, `moderate`).
func (s *Service) Moderate(ctx context.Context, room string, id Identity, m wire.Moderate) error {
	if err := id.CheckManage(room, "moderating"); err != nil {
		return err
	}
	by := id.Subject
	needSubject := func() error {
		if m.Subject == "" || len(m.Subject) > 256 {
			return fmt.Errorf("%w: %s needs a subject", ErrBadRequest, m.Action)
		}
		return nil
	}
	switch m.Action {
	case "delete":
		if m.ID <= 0 {
			return fmt.Errorf("%w: delete needs the message id", ErrBadRequest)
		}
		return s.p.Chat.Delete(ctx, room, m.ID, by)
	case "timeout":
		if err := needSubject(); err != nil {
			return err
		}
		d := time.Duration(m.Seconds) * time.Second
		if d <= 0 || d > maxTimeout {
			return fmt.Errorf("%w: timeout needs seconds between 1 and %d", ErrBadRequest, int(maxTimeout/time.Second))
		}
		if err := s.p.Chat.Timeout(ctx, room, m.Subject, d, by); err != nil {
			return err
		}
		s.restrictGuestIP(ctx, room, m.Subject, ipTimeout, d)
		return nil
	case "ban":
		if err := needSubject(); err != nil {
			return err
		}
		if err := s.p.Chat.Ban(ctx, room, m.Subject, by); err != nil {
			return err
		}
		s.restrictGuestIP(ctx, room, m.Subject, ipBan, 0)
		return nil
	case "unban":
		if err := needSubject(); err != nil {
			return err
		}
		if err := s.p.Chat.Unban(ctx, room, m.Subject, by); err != nil {
			return err
		}
		s.liftGuestIP(ctx, room, m.Subject)
		return nil
	case "settings":
		_, err := s.SetSettings(ctx, room, m.Settings, by)
		return err
	case "pin":
		var p chat.Product
		if len(m.Product) == 0 || bytes.Equal(m.Product, []byte("null")) {
			return fmt.Errorf("%w: pin needs a product", ErrBadRequest)
		}
		if err := json.Unmarshal(m.Product, &p); err != nil {
			return fmt.Errorf("%w: product: %v", ErrBadRequest, err)
		}
		_, err := s.p.Chat.Pin(ctx, room, p, by)
		return err
	case "unpin":
		return s.p.Chat.Unpin(ctx, room, by)
	}
	return fmt.Errorf("%w: unknown action %q (delete, timeout, ban, unban, settings, pin, unpin)", ErrBadRequest, m.Action)
}

// SetSettings changes the room's settings named in patch (a JSON object with any of
// slow_mode_s, links, guest_chat); the others keep their value.
func (s *Service) SetSettings(ctx context.Context, room string, patch json.RawMessage, by string) (chat.Settings, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil || fields == nil {
		return chat.Settings{}, fmt.Errorf("%w: settings must be an object with slow_mode_s, links or guest_chat", ErrBadRequest)
	}
	cur, err := s.p.Chat.Settings(ctx, room)
	if err != nil {
		return chat.Settings{}, err
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(raw(cur), &merged); err != nil {
		return chat.Settings{}, err
	}
	for k, v := range fields {
		if _, known := merged[k]; !known {
			return chat.Settings{}, fmt.Errorf("%w: unknown setting %q", ErrBadRequest, k)
		}
		merged[k] = v
	}
	var next chat.Settings
	if err := json.Unmarshal(raw(merged), &next); err != nil {
		return chat.Settings{}, fmt.Errorf("%w: settings: %v", ErrBadRequest, err)
	}
	return s.p.Chat.SetSettings(ctx, room, next, by)
}

// Snapshot is the `joined` answer for id in room at feed.Seq (PROTOCOL.md, "Order, history
// and resume"): chat lines with ids after feed.Seq are left out, they come as events.
func (s *Service) Snapshot(ctx context.Context, room string, id Identity, feed *Feed, after int64) (wire.Joined, error) {
	j := wire.Joined{Room: room, Seq: feed.Seq, Resumed: feed.Resumed,
		You: wire.You{Subject: id.Subject, Name: id.Name, Guest: id.Guest, Grants: id.GrantNames()}}
	if id.Guest {
		j.You.GuestKey = s.guests.issue(id.Subject)
	}
	st, err := s.p.Chat.Settings(ctx, room)
	if err != nil {
		return j, err
	}
	j.Settings = raw(st)
	cur, err := s.p.Auction.Current(ctx, room)
	if err != nil {
		return j, err
	}
	j.Lot = raw(cur)
	var lots []auction.Lot
	if manager := id.CanManage(room); manager || cur == nil {
		if lots, err = s.p.Auction.List(ctx, room); err != nil {
			return j, err
		}
		if manager {
			if lots == nil {
				lots = []auction.Lot{}
			}
			j.Lots = raw(lots)
		}
	}
	j.LastLot = json.RawMessage("null")
	if cur == nil {
		j.LastLot = raw(lastEnded(lots))
	}
	p, err := s.p.Chat.Product(ctx, room)
	if err != nil {
		return j, err
	}
	j.Product = raw(p)
	var msgs []chat.Message
	if feed.Resumed {
		msgs, err = s.p.Chat.History(ctx, room, after, 2000)
	} else {
		msgs, err = s.p.Chat.History(ctx, room, 0, s.p.HistoryLimit)
	}
	if err != nil {
		return j, err
	}
	lines := make([]chat.Message, 0, len(msgs))
	for _, m := range msgs {
		if m.ID <= feed.Seq {
			lines = append(lines, m)
		}
	}
	j.Chat = raw(lines)
	if feed.Resumed {
		j.Events = make([]wire.Event, 0, len(feed.Replay))
		for _, e := range feed.Replay {
			j.Events = append(j.Events, EventMessage(e))
		}
	}
	j.ServerTime = s.serverTime(ctx)
	return j, nil
}

// lastEnded is the lot that ended last (sold, unsold or cancelled; of equal end times the later
// one), or nil.
func lastEnded(lots []auction.Lot) *auction.Lot {
	var last *auction.Lot
	for i := range lots {
		switch lots[i].Status {
		case auction.StatusSold, auction.StatusUnsold, auction.StatusCancelled:
			if last == nil || lots[i].EndedAt >= last.EndedAt {
				last = &lots[i]
			}
		}
	}
	return last
}

func validLotID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: lot_id must be 1-64 bytes", ErrBadRequest)
	}
	return nil
}
