package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signaling/wire"
)

// openLive builds the live room on the node's Redis and event stream: chat, the auction engine
// and the live service that joins them to sockets and requests.
func (s *Server) openLive() error {
	var err error
	if s.chat, err = chat.New(chat.Params{Redis: s.rdb, Log: s.stream, Logger: s.p.Logger}); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	if s.auction, err = auction.New(auction.Params{Redis: s.rdb, Log: s.stream, Logger: s.p.Logger,
		OnSettled: s.lotSettled, LeaseTTL: s.p.LiveLeaseTTL}); err != nil {
		return fmt.Errorf("auction: %w", err)
	}
	if s.live, err = live.New(live.Params{Redis: s.rdb, Log: s.stream, Auction: s.auction, Chat: s.chat,
		Auth: s.signer, GuestKey: s.signer.DeriveKey(live.GuestKeyPurpose), Logger: s.p.Logger}); err != nil {
		return fmt.Errorf("live: %w", err)
	}
	return nil
}

// lotSettled is the auction's OnSettled: once per settled lot cluster-wide, again only when the
// node that ran it died before acknowledging it (the webhooks' ids make a repeat harmless). The
// hooks of other components (webhooks) are called from here.
func (s *Server) lotSettled(l auction.Lot, bids []auction.Bid) {
	s.log.Info("lot settled, hooks run", "room", l.Room, "lot", l.ID, "status", l.Status, "price", l.Price, "bids", len(bids))
	s.lotSettledWebhooks(l) // webhooks.go
}

// liveBidLog is the auction's bid log as the show archiver reads it (archive.BidLog).
type liveBidLog struct{ e *auction.Engine }

func (b liveBidLog) Bids(ctx context.Context, room, id string) ([]json.RawMessage, error) {
	bids, err := b.e.Bids(ctx, room, id)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(bids))
	for _, x := range bids {
		j, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// liveOnLive wraps the SFU's OnLive hook: each broadcast emits room.live into its room's event
// stream now and room.ended when it ends (K2), for live pages and SSE clients without media.
// next (the recorder, the webhooks) is called as before.
func (s *Server) liveOnLive(next func(sfu.LiveRoom) sfu.Sink) func(sfu.LiveRoom) sfu.Sink {
	return func(room sfu.LiveRoom) sfu.Sink {
		s.watchLive(room.Name())
		if next == nil {
			return nil
		}
		return next(room)
	}
}

// watchLive emits one broadcast's room.live and, from a watch taken before the room can end,
// its room.ended (unless the room is live again by then: a late end of an earlier broadcast).
func (s *Server) watchLive(name string) {
	s.roomMu.Lock()
	if s.roomsClosed {
		s.roomMu.Unlock()
		return
	}
	events, unwatch := s.sfu.Watch(name)
	s.roomWG.Add(1)
	s.roomMu.Unlock()
	since := time.Time{}
	if info, ok := s.sfu.Room(name); ok {
		since = info.Since
	}
	emit := func(kind string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.stream.Emit(ctx, name, kind, map[string]string{"room": name}); err != nil {
			s.log.Warn("room event not emitted", "room", name, "kind", kind, "err", err)
		}
	}
	go func() {
		defer s.roomWG.Done()
		defer unwatch()
		emit("room.live")
		ended := func(e sfu.Event) bool {
			if e.Kind != sfu.EventEnded {
				return false
			}
			if info, ok := s.sfu.Room(name); ok && !since.IsZero() && info.Since.Equal(since) {
				return false // the end of an earlier broadcast, and this one goes on
			}
			emit("room.ended")
			return true
		}
		for {
			select {
			case e := <-events:
				if ended(e) {
					return
				}
			case <-s.roomsDone: // closing: the SFU has ended the rooms, their ends are queued
				for {
					select {
					case e := <-events:
						if ended(e) {
							return
						}
					default:
						return
					}
				}
			}
		}
	}()
}

// closeLive closes the live room (after signaling closed its sockets and the SFU its rooms,
// before the Redis).
func (s *Server) closeLive() {
	s.roomMu.Lock()
	if !s.roomsClosed && s.roomsDone != nil {
		close(s.roomsDone)
	}
	s.roomsClosed = true
	s.roomMu.Unlock()
	s.roomWG.Wait()
	if s.live != nil {
		_ = s.live.Close()
	}
	if s.auction != nil {
		_ = s.auction.Close()
	}
	if s.chat != nil {
		_ = s.chat.Close()
	}
}

// liveFamily makes the live service a signaling message family. live does not import
// signaling (its Socket is what signaling's sockets are), so the adapter lives in the wiring.
type liveFamily struct{ svc *live.Service }

func (f liveFamily) Types() []string                              { return f.svc.Types() }
func (f liveFamily) Feature() string                              { return f.svc.Feature() }
func (f liveFamily) Open(sock signaling.Socket) signaling.Handler { return f.svc.Open(sock) }

// Decode turns live's protocol errors into signaling's (the socket is closed).
func (f liveFamily) Decode(env wire.Envelope) (wire.Message, error) {
	m, err := f.svc.Decode(env)
	if errors.Is(err, live.ErrProtocol) {
		return nil, fmt.Errorf("%w: %v", signaling.ErrProtocol, err)
	}
	return m, err
}
