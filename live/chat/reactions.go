package chat

import (
	"context"
	"fmt"
	"time"
)

// ValidReaction reports whether kind is a reaction a viewer can send: heart, fire, clap, wow, laugh.
func ValidReaction(kind string) bool {
	switch kind {
	case "heart", "fire", "clap", "wow", "laugh":
		return true
	}
	return false
}

// bucket is one subject's reaction allowance in a room: a token bucket of ReactRate tokens
// refilled at ReactRate per second (this node's clock: reactions decide nothing).
type bucket struct {
	tokens float64
	last   time.Time
}

// React counts one reaction of subject in room. Reactions are summed on this node and flushed
// as one "reactions" event {counts: {kind: n}} per room every FlushEvery when non-zero.
// ErrInvalid for an unknown kind or room, ErrRateLimited above ReactRate per second per subject.
func (s *Service) React(room, subject, kind string) error {
	if !ValidReaction(kind) {
		return fmt.Errorf("%w: reaction %q (heart, fire, clap, wow, laugh)", ErrInvalid, kind)
	}
	if err := validRoom(room); err != nil {
		return err
	}
	if err := validToken("subject", subject, maxSubjectBytes); err != nil {
		return err
	}
	now := time.Now()
	rate := float64(s.p.ReactRate)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	k := room + "\x00" + subject
	b := s.react[k]
	if b == nil {
		b = &bucket{tokens: rate, last: now}
		s.react[k] = b
	}
	b.tokens = min(rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return fmt.Errorf("%w: more than %d reactions per second", ErrRateLimited, s.p.ReactRate)
	}
	b.tokens--
	c := s.counts[room]
	if c == nil {
		c = map[string]int64{}
		s.counts[room] = c
	}
	c[kind]++
	return nil
}

// flushLoop emits the summed reactions every FlushEvery, and a last time on Close.
func (s *Service) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.p.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s.flush(ctx)
			cancel()
			return
		case <-t.C:
			s.flush(s.ctx)
		}
	}
}

// flush takes the counts (and forgets idle reaction buckets) under the lock, then emits one
// reactions event per room outside it.
func (s *Service) flush(ctx context.Context) {
	s.mu.Lock()
	counts := s.counts
	s.counts = map[string]map[string]int64{}
	idle := time.Now().Add(-time.Second)
	for k, b := range s.react {
		if b.last.Before(idle) {
			delete(s.react, k) // full again by now: same as a fresh bucket
		}
	}
	s.mu.Unlock()
	for room, c := range counts {
		if _, err := s.log.Emit(ctx, room, "reactions", map[string]any{"counts": c}); err != nil {
			s.lg.Warn("reactions flush", "room", room, "err", err)
		}
	}
}
