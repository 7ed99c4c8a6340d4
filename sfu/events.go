package sfu

import "time"

// EventKind tells what changed in a room.
type EventKind int

const (
	// EventLive: the room went live (a publisher's tracks arrived). Waiting viewers subscribe now.
	EventLive EventKind = iota + 1
	// EventStatus: the viewer count changed (sent at most once a second per room).
	EventStatus
	// EventEnded: the broadcast ended; Reason says why.
	EventEnded
)

func (k EventKind) String() string {
	switch k {
	case EventLive:
		return "live"
	case EventStatus:
		return "status"
	case EventEnded:
		return "ended"
	}
	return "unknown"
}

// Event is a change in a room's state.
type Event struct {
	Kind    EventKind
	Room    string
	Live    bool
	Viewers int
	Since   time.Time
	Reason  string
}

type watcher struct{ ch chan Event }

// Watch subscribes to a room's events. The channel is buffered; a watcher that does not keep up
// loses its oldest events, never blocks the room. Call cancel when done.
func (s *SFU) Watch(room string) (<-chan Event, func()) {
	w := &watcher{ch: make(chan Event, 16)}
	s.mu.Lock()
	set := s.watchers[room]
	if set == nil {
		set = map[*watcher]struct{}{}
		s.watchers[room] = set
	}
	set[w] = struct{}{}
	s.mu.Unlock()
	return w.ch, func() {
		s.mu.Lock()
		if set := s.watchers[room]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(s.watchers, room)
			}
		}
		s.mu.Unlock()
	}
}

func (s *SFU) emit(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers[ev.Room] {
		for {
			select {
			case w.ch <- ev:
			default:
				select { // full: drop the oldest and retry
				case <-w.ch:
				default:
				}
				continue
			}
			break
		}
	}
}
