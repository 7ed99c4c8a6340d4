package server

import (
	"errors"
	"fmt"

	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
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
		Auth: s.signer, Logger: s.p.Logger}); err != nil {
		return fmt.Errorf("live: %w", err)
	}
	return nil
}

// lotSettled runs once per settled lot, cluster-wide (on the node whose settle script won):
// the hooks of other components (webhooks) are called from here.
func (s *Server) lotSettled(l auction.Lot, bids []auction.Bid) {
	s.log.Info("lot settled", "room", l.Room, "lot", l.ID, "status", l.Status, "price", l.Price, "bids", len(bids))
	for _, h := range s.settledHooks {
		h(l, bids)
	}
}

// closeLive closes the live room (after signaling closed its sockets, before the Redis).
func (s *Server) closeLive() {
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
