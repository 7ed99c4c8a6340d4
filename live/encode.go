package live

import (
	"sync"

	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/signaling/wire"
)

// encSlots is how many recent events of a room stay encoded (the sockets of a room forward
// about the same event at the same time).
const encSlots = 64

// encCache encodes each event of a room once for all the node's sockets in that room.
type encCache struct {
	mu    sync.Mutex
	rooms map[string]*encRoom
}

type encRoom struct {
	users int
	slots [encSlots]struct {
		seq int64
		msg wire.Message
	}
}

// join and leave count a room's forwarding sockets; the room's encodings go with the last.
func (c *encCache) join(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		c.rooms = map[string]*encRoom{}
	}
	r := c.rooms[room]
	if r == nil {
		r = &encRoom{}
		c.rooms[room] = r
	}
	r.users++
}

func (c *encCache) leave(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rooms[room]; r != nil {
		if r.users--; r.users <= 0 {
			delete(c.rooms, room)
		}
	}
}

// event is e as an `event` message, encoded once.
func (c *encCache) event(e stream.Event) wire.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[e.Room]
	if r == nil {
		return EventMessage(e)
	}
	slot := &r.slots[e.Seq%encSlots]
	if slot.seq != e.Seq || slot.msg == nil {
		enc, err := wire.NewEncoded(EventMessage(e))
		if err != nil {
			return EventMessage(e)
		}
		slot.seq, slot.msg = e.Seq, enc
	}
	return slot.msg
}
