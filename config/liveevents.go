package config

import "time"

// LiveEvents tunes how live rooms' events reach the sockets (docs/LIVE.md, "Fan-out and slow
// clients").
type LiveEvents struct {
	// LiveEventBatch is the shortest time between two writes of a room's events into a socket:
	// events that come sooner go together in one write (the first after a quiet spell goes at
	// once). 0 sends every event at once; at most 1s. --live-event-batch, default 40ms.
	LiveEventBatch time.Duration
}

// DefaultLiveEvents returns the documented defaults.
func DefaultLiveEvents() LiveEvents { return LiveEvents{LiveEventBatch: 40 * time.Millisecond} }

func (l *LiveEvents) settings() []setting {
	return []setting{
		{"live-event-batch", "the shortest time (`duration`, 0..1s) between two writes of a live room's events into a socket; events that come sooner go together (0: every event at once)", (*durationValue)(&l.LiveEventBatch)},
	}
}

func (l LiveEvents) validate(bad func(flagName, format string, args ...any)) {
	if l.LiveEventBatch < 0 || l.LiveEventBatch > time.Second {
		bad("live-event-batch", "%v is not in 0..1s", l.LiveEventBatch)
	}
}
