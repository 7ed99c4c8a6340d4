// Package ratelimit holds relaycast's write limits (docs/SECURITY.md, "Rate limits"): token
// buckets per key (a client address, a user), bounded in memory, and the HTTP middleware that
// answers 429 Too Many Requests with Retry-After and a JSON error. It imports nothing of
// relaycast's; the wiring (package server) says who the user of a request is and which requests
// are exempt.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is a sustained rate (events per second) and a burst. The zero Rule is off.
type Rule struct {
	Rate  float64
	Burst int
}

// Off reports whether the rule limits nothing.
func (r Rule) Off() bool { return r.Rate <= 0 }

// String is the rule in ParseRule's form ("20,60", or "off").
func (r Rule) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.FormatFloat(r.Rate, 'f', -1, 64) + "," + strconv.Itoa(r.Burst)
}

// ParseRule reads "RATE,BURST" (RATE per second, e.g. "20,60"), "RATE" (the burst is RATE
// rounded up) or "off" / "0".
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" || s == "" {
		return Rule{}, nil
	}
	rs, bs, hasBurst := strings.Cut(s, ",")
	r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rs), "/s"), 64)
	if err != nil || r < 0 || math.IsNaN(r) || math.IsInf(r, 0) || r > 1e6 {
		return Rule{}, fmt.Errorf("%w: %q: want RATE,BURST (per second), RATE, or off", ErrBadRule, s)
	}
	b := int(math.Ceil(r))
	if hasBurst {
		if b, err = strconv.Atoi(strings.TrimSpace(bs)); err != nil || b < 1 || b > 1e6 {
			return Rule{}, fmt.Errorf("%w: %q: the burst must be 1..1000000", ErrBadRule, s)
		}
	}
	if r == 0 {
		return Rule{}, nil
	}
	return Rule{Rate: r, Burst: max(b, 1)}, nil
}

// DefaultMaxKeys bounds the keys one Keyed limiter remembers.
const DefaultMaxKeys = 100_000

// idle is how long a key's bucket is kept after its last event: a full bucket (idle for
// Burst/Rate) is the same as a new one, so nothing is lost by forgetting it.
const idle = time.Minute

// Keyed is one token bucket per key, for a Rule. Memory is bounded: buckets idle for a minute are
// swept, and past MaxKeys the oldest half is forgotten (those clients start with a full bucket).
// Safe for concurrent use. A nil or off Keyed allows everything.
type Keyed struct {
	rule    Rule
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewKeyed makes a limiter for rule (maxKeys 0: DefaultMaxKeys; now nil: time.Now).
func NewKeyed(rule Rule, maxKeys int, now func() time.Time) *Keyed {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Keyed{rule: rule, maxKeys: maxKeys, now: now, buckets: map[string]*bucket{}}
}

// Rule is the limiter's rule.
func (k *Keyed) Rule() Rule {
	if k == nil {
		return Rule{}
	}
	return k.rule
}

// Allow takes one token of key's bucket. When there is none it takes nothing and says how long
// until there is one.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	if k == nil || k.rule.Off() {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.swept) > idle {
		k.sweep(now, idle)
	}
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= k.maxKeys {
			k.sweep(now, 0)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(k.rule.Rate), k.rule.Burst)}
		k.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of keys remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// sweep forgets buckets idle for longer than after; with after 0 (the map is full) it forgets
// the buckets seen longest ago until half the room is free.
func (k *Keyed) sweep(now time.Time, after time.Duration) {
	k.swept = now
	if after > 0 {
		for key, b := range k.buckets {
			if now.Sub(b.seen) > after {
				delete(k.buckets, key)
			}
		}
		return
	}
	type aged struct {
		key  string
		seen time.Time
	}
	all := make([]aged, 0, len(k.buckets))
	for key, b := range k.buckets {
		all = append(all, aged{key, b.seen})
	}
	// No sort: forget every bucket at least as old as the mean age (about half of them).
	var sum float64
	for _, a := range all {
		sum += float64(now.Sub(a.seen))
	}
	mean := time.Duration(sum / float64(max(len(all), 1)))
	for _, a := range all {
		if now.Sub(a.seen) >= mean {
			delete(k.buckets, a.key)
		}
	}
}
