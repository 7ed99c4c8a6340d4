// Package revocation keeps the list of revoked token subjects of a relaycast deployment in Redis
// and a copy of it in each node's memory (docs/SECURITY.md, "Revoking tokens"): an operator (or
// the host shop's backend) revokes a user's tokens with one call to any node, and within a
// second every node refuses them (auth.Signer asks Revoked on every Verify).
//
// Redis: a hash (default key "relaycast:revoked") of subject → the revocation's time in Unix
// milliseconds (Redis TIME): tokens of that subject issued at or before it are revoked, tokens
// issued later are not (the host shop simply stops issuing them). A change is PUBLISHed on
// "<key>:changed" so that every node reloads at once; each node also reloads every Refresh.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrBadSubject: an empty or oversized subject.
var ErrBadSubject = errors.New("revocation: bad subject")

// MaxSubject is the longest subject accepted (tokens' subjects are short ids).
const MaxSubject = 256

// Params configures a Store.
type Params struct {
	Redis redis.UniversalClient
	// Key is the Redis hash (default "relaycast:revoked").
	Key string
	// Refresh is how often the copy is reloaded besides the change notices (default 1s).
	Refresh time.Duration
	// OnChange, when set, is called after the copy changed (new revocations): a node closes the
	// sessions of revoked tokens then.
	OnChange func()
	Logger   *slog.Logger
}

// Entry is one revoked subject.
type Entry struct {
	Subject   string    `json:"subject"`
	RevokedAt time.Time `json:"revoked_at"`
}

// Store is the list in Redis and this node's copy. Safe for concurrent use.
type Store struct {
	p    Params
	log  *slog.Logger
	copy atomic.Pointer[map[string]int64] // subject → revoked at, Unix ms

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New loads the list (a Redis that does not answer is logged and retried: the copy starts
// empty) and keeps the copy fresh until Close.
func New(p Params) (*Store, error) {
	if p.Redis == nil {
		return nil, errors.New("revocation: Params.Redis is required")
	}
	if p.Key == "" {
		p.Key = "relaycast:revoked"
	}
	if p.Refresh <= 0 {
		p.Refresh = time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	s := &Store{p: p, log: p.Logger.With("component", "revocation")}
	empty := map[string]int64{}
	s.copy.Store(&empty)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.reload(s.ctx); err != nil {
		s.log.Warn("cannot load the revoked tokens yet", "err", err)
	}
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// Revoked reports whether subject's tokens issued at issuedAt are revoked (auth.Revoker). A JWT
// issue time has whole seconds, so a token issued in the same second as the revocation counts
// as issued before it.
func (s *Store) Revoked(subject string, issuedAt time.Time) bool {
	at, ok := (*s.copy.Load())[subject]
	return ok && issuedAt.Truncate(time.Second).UnixMilli() <= at
}

// Revoke revokes every token of subject issued until now (Redis's clock) and tells every node.
func (s *Store) Revoke(ctx context.Context, subject string) (Entry, error) {
	if subject == "" || len(subject) > MaxSubject {
		return Entry{}, fmt.Errorf("%w: 1..%d bytes", ErrBadSubject, MaxSubject)
	}
	now, err := s.p.Redis.Time(ctx).Result()
	if err != nil {
		return Entry{}, fmt.Errorf("revocation: %w", err)
	}
	ms := now.UnixMilli()
	if err := s.p.Redis.HSet(ctx, s.p.Key, subject, ms).Err(); err != nil {
		return Entry{}, fmt.Errorf("revocation: %w", err)
	}
	s.changed(ctx)
	return Entry{Subject: subject, RevokedAt: time.UnixMilli(ms).UTC()}, nil
}

// Lift lets subject's old tokens work again (those not expired); false when it was not revoked.
func (s *Store) Lift(ctx context.Context, subject string) (bool, error) {
	n, err := s.p.Redis.HDel(ctx, s.p.Key, subject).Result()
	if err != nil {
		return false, fmt.Errorf("revocation: %w", err)
	}
	s.changed(ctx)
	return n > 0, nil
}

// List is every revoked subject, most recent first.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	m, err := s.p.Redis.HGetAll(ctx, s.p.Key).Result()
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	out := make([]Entry, 0, len(m))
	for sub, v := range m {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, Entry{Subject: sub, RevokedAt: time.UnixMilli(ms).UTC()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RevokedAt.After(out[j].RevokedAt) })
	return out, nil
}

// changed reloads this node's copy at once and tells the others.
func (s *Store) changed(ctx context.Context) {
	if err := s.reload(ctx); err != nil {
		s.log.Warn("reload", "err", err)
	}
	if err := s.p.Redis.Publish(ctx, s.p.Key+":changed", "1").Err(); err != nil {
		s.log.Warn("cannot tell the other nodes (they reload within a second)", "err", err)
	}
}

func (s *Store) reload(ctx context.Context) error {
	m, err := s.p.Redis.HGetAll(ctx, s.p.Key).Result()
	if err != nil {
		return err
	}
	next := make(map[string]int64, len(m))
	for sub, v := range m {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			next[sub] = ms
		}
	}
	prev := s.copy.Swap(&next)
	if s.p.OnChange != nil && revokedMore(*prev, next) {
		s.p.OnChange()
	}
	return nil
}

// revokedMore: next revokes a subject prev did not, or later.
func revokedMore(prev, next map[string]int64) bool {
	for sub, at := range next {
		if p, ok := prev[sub]; !ok || at > p {
			return true
		}
	}
	return false
}

func (s *Store) run() {
	defer s.wg.Done()
	sub := s.p.Redis.Subscribe(s.ctx, s.p.Key+":changed")
	defer sub.Close()
	notes := sub.Channel()
	t := time.NewTicker(s.p.Refresh)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-notes:
		case <-t.C:
		}
		if err := s.reload(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Debug("reload", "err", err)
		}
	}
}

// Close stops keeping the copy fresh (the last copy still answers).
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}
