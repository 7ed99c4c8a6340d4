package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/relaycast/relaycast/live/stream"
)

// replayPage is how many events one After call reads while replaying.
const replayPage = 500

// Feed is a room's events for one follower: the replay after a given seq (or a snapshot point)
// and then the live events. It is subscribed before anything is read, so a follower that sends
// Replay and then every event of C with a seq greater than Seq misses nothing and sends nothing
// twice (the room's events are one ordered stream, seq without gaps).
type Feed struct {
	// Seq is the last seq the replay (or the snapshot taken after Follow) includes.
	Seq int64
	// Resumed: Replay holds every event after the asked seq, in order. False: the asked seq was
	// 0, or older than the events the stream keeps (stream.ErrGap), and the follower needs a
	// snapshot of the room at Seq.
	Resumed bool
	Replay  []stream.Event
	// C is this node's copy of the room's live events; it is closed when the follower falls
	// too far behind (the follower is too slow) or after Close.
	C    <-chan stream.Event
	stop func()
}

// Close ends the subscription.
func (f *Feed) Close() {
	if f.stop != nil {
		f.stop()
	}
}

// Follow subscribes to room and reads the events after `after` (0: none, a snapshot point).
// `after` greater than the room's last seq is ErrBadSeq.
func (s *Service) Follow(ctx context.Context, room string, after int64) (*Feed, error) {
	return s.follow(ctx, room, after, func() *Feed {
		ch, unsub := s.p.Log.Subscribe(room)
		return &Feed{C: ch, stop: unsub}
	})
}

// FollowFunc is Follow with the live events handed to fn from the node's dispatcher instead of
// a channel (Feed.C is nil): see stream.Log.SubscribeFunc. fn may be called before FollowFunc
// returns, with events the replay or snapshot also covers (seq ≤ Feed.Seq).
func (s *Service) FollowFunc(ctx context.Context, room string, after int64, fn func([]stream.Event) bool) (*Feed, error) {
	return s.follow(ctx, room, after, func() *Feed {
		return &Feed{stop: s.p.Log.SubscribeFunc(room, fn)}
	})
}

func (s *Service) follow(ctx context.Context, room string, after int64, subscribe func() *Feed) (*Feed, error) {
	if after < 0 {
		return nil, fmt.Errorf("%w: after must not be negative", ErrBadRequest)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	f := subscribe()
	seq, err := s.p.Log.Seq(ctx, room)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("live: room seq: %w", err)
	}
	if after > seq {
		f.Close()
		return nil, fmt.Errorf("%w (after %d, last seq %d)", ErrBadSeq, after, seq)
	}
	f.Seq = seq
	if after == 0 {
		return f, nil
	}
	cur := after
	var replay []stream.Event
	for {
		evs, err := s.p.Log.After(ctx, room, cur, replayPage)
		if errors.Is(err, stream.ErrGap) {
			return f, nil // a snapshot at seq
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("live: replay: %w", err)
		}
		replay = append(replay, evs...)
		if len(evs) < replayPage {
			break
		}
		cur = evs[len(evs)-1].Seq
	}
	f.Resumed, f.Replay = true, replay
	if n := len(replay); n > 0 && replay[n-1].Seq > f.Seq {
		f.Seq = replay[n-1].Seq
	}
	return f, nil
}
