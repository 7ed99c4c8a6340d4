package live

import (
	"sync"

	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/signaling/wire"
)

// pusher hands a joined socket its room's live events from the node's event dispatcher
// (stream.Log.SubscribeFunc): each batch of events is offered to the socket in the dispatcher's
// goroutine, which writes it into the socket at once (one write for the batch) when nothing is
// queued there, so an event reaches every idle socket of the room without a goroutine woken per
// socket. Events that arrive while
// the join's answer is being made are held, and sent after it (those the answer covers, seq ≤
// the feed's, are dropped).
type pusher struct {
	s    *Service
	sock Socket
	room string

	mu      sync.Mutex
	started bool
	dead    bool
	last    int64
	held    []stream.Event
}

// maxHeld bounds the events held while a join is answered (the stream's buffer of a channel
// subscriber).
func (p *pusher) maxHeld() int { return 1024 }

// push is the subscription's fn: false ends it.
func (p *pusher) push(events []stream.Event) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return false
	}
	if !p.started {
		if len(p.held)+len(events) > p.maxHeld() {
			p.slow()
			return false
		}
		p.held = append(p.held, events...)
		return true
	}
	return p.send(events)
}

// start sends the held events after last (the join's answer is queued before), then lets the
// dispatcher's events through.
func (p *pusher) start(last int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started, p.last = true, last
	held := p.held
	p.held = nil
	p.send(held)
}

// stop makes every later push a no-op (the socket left the room).
func (p *pusher) stop() {
	p.mu.Lock()
	p.dead, p.held = true, nil
	p.mu.Unlock()
}

// send offers the events after p.last once, in seq order, in one write (p.mu held).
func (p *pusher) send(events []stream.Event) bool {
	if p.dead {
		return false
	}
	var one [1]wire.Message
	msgs := one[:0]
	for _, e := range events {
		if e.Seq <= p.last {
			continue
		}
		p.last = e.Seq
		msgs = append(msgs, p.s.enc.event(e))
	}
	if len(msgs) == 0 {
		return true
	}
	if !p.sock.Offer(msgs...) {
		select {
		case <-p.sock.Done(): // closed: nothing to say
			p.dead = true
		default:
			p.slow()
		}
		return false
	}
	p.s.stats.events.Add(int64(len(msgs)))
	return true
}

// slow closes a socket that does not read its events (p.mu held).
func (p *pusher) slow() {
	p.dead = true
	p.s.log.Info("live socket too slow, closing", "room", p.room)
	p.s.stats.slow.Add(1)
	go p.sock.Close(ReasonTooSlow)
}

// PromptKind is stream.Params.Prompt for the live room: every event kind reaches the sockets at
// once (with what waits before it) except chat messages and reaction counts, which may wait up
// to the stream's Batch to go in one write with the room's next ones. The auction's events
// (lot, bid) are the price a bidder bids on: they are never held back.
func PromptKind(kind string) bool { return kind != "chat" && kind != "reactions" }
