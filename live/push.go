package live

import (
	"sync"

	"github.com/relaycast/relaycast/live/stream"
)

// pusher hands a joined socket its room's live events from the node's event dispatcher
// (stream.Log.SubscribeFunc): each event is offered to the socket in the dispatcher's goroutine,
// which writes it into the socket at once when nothing is queued there, so an event reaches
// every idle socket of the room without a goroutine woken per socket. Events that arrive while
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
func (p *pusher) push(e stream.Event) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return false
	}
	if !p.started {
		if len(p.held) >= p.maxHeld() {
			p.slow()
			return false
		}
		p.held = append(p.held, e)
		return true
	}
	return p.send(e)
}

// start sends the held events after last (the join's answer is queued before), then lets the
// dispatcher's events through.
func (p *pusher) start(last int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started, p.last = true, last
	held := p.held
	p.held = nil
	for _, e := range held {
		if !p.send(e) {
			return
		}
	}
}

// stop makes every later push a no-op (the socket left the room).
func (p *pusher) stop() {
	p.mu.Lock()
	p.dead, p.held = true, nil
	p.mu.Unlock()
}

// send offers e once, in seq order (p.mu held).
func (p *pusher) send(e stream.Event) bool {
	if p.dead {
		return false
	}
	if e.Seq <= p.last {
		return true
	}
	p.last = e.Seq
	if !p.sock.Offer(p.s.enc.event(e)) {
		select {
		case <-p.sock.Done(): // closed: nothing to say
			p.dead = true
		default:
			p.slow()
		}
		return false
	}
	p.s.stats.events.Add(1)
	return true
}

// slow closes a socket that does not read its events (p.mu held).
func (p *pusher) slow() {
	p.dead = true
	p.s.log.Info("live socket too slow, closing", "room", p.room)
	p.s.stats.slow.Add(1)
	go p.sock.Close(ReasonTooSlow)
}
