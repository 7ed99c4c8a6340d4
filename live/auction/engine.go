// Package auction is the live room's auction engine: lots, bids, the anti-sniping timer and a
// settlement that happens exactly once across every node sharing one Redis.
//
// Every decision is a Lua script run by Redis (real, or the embedded miniredis: the same
// scripts) on the Redis server's clock, and every script that changes a lot emits its events
// through stream.EmitLua in the same atomic step, so the room's event order is the order of
// the decisions. The rules are in docs/AUCTION.md; the keys in lua.go.
package auction

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/live/stream"
)

// DefaultLeaseTTL is the default Params.LeaseTTL.
const DefaultLeaseTTL = 3 * time.Second

// DefaultNotifyClaimTTL is the default Params.NotifyClaimTTL.
const DefaultNotifyClaimTTL = 30 * time.Second

// MaxLots is the most lots a room keeps.
const MaxLots = 1000

// Params configures an Engine.
type Params struct {
	Redis  redis.UniversalClient
	Log    *stream.Log // the room event stream (its prefix is the engine's key prefix too)
	Logger *slog.Logger
	// NodeID names this node in the lot leases (default: random). Unique per running engine.
	NodeID string
	// OnSettled is called for every lot that ended sold or unsold, at least once cluster-wide:
	// on the node whose settle script decided it, with the final lot and its bid log; if that
	// node dies (or its call hangs) before the call returned, another node calls it again with
	// the same lot and log once the claim expired (NotifyClaimTTL). Receivers dedupe by the lot
	// id. It runs on its own goroutine; Close waits for it.
	OnSettled func(Lot, []Bid)
	// LeaseTTL is how long a lot's timer owner holds its lease without renewing it (default
	// DefaultLeaseTTL); it renews every LeaseTTL/3, and every engine looks for lots with an
	// expired lease as often. A dead owner's lot is taken over within about LeaseTTL*4/3.
	LeaseTTL time.Duration
	// NotifyClaimTTL is how long a node's claim on a settled lot's OnSettled call lasts (default
	// DefaultNotifyClaimTTL): if the call has not returned and been acknowledged by then, the
	// next look of any engine (every LeaseTTL/3) claims it and calls OnSettled again. Keep it
	// well above the time OnSettled takes.
	NotifyClaimTTL time.Duration
}

// Engine runs the auctions of every room of one node. It is safe for concurrent use.
type Engine struct {
	p      Params
	rdb    redis.UniversalClient
	log    *slog.Logger
	prefix string
	every  time.Duration

	create, start, bid, tick, acquire, release, end, cancel, get, expired *redis.Script
	claim, ack                                                            *redis.Script

	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	paused atomic.Bool // tests: this node stands still (a stopped process) — no renewals, no settles
	// tests: this node "dies" right after its next settle script: its OnSettled never runs nor
	// acknowledges, and it stands still from then on (paused)
	dropNotify atomic.Bool

	mu    sync.Mutex
	owned map[string]*owned // room + "\x00" + id → the lot timer this node runs
	// notifying: room + "\x00" + id → an OnSettled call of this node is running
	notifying map[string]bool
}

// owned is a lot whose lease this node holds.
type owned struct {
	room, id string
	fence    string
	cancel   context.CancelFunc
}

// New builds an engine and starts watching open lots (taking over those whose owner is gone).
func New(p Params) (*Engine, error) {
	if p.Redis == nil {
		return nil, errors.New("auction: no Redis")
	}
	if p.Log == nil {
		return nil, errors.New("auction: no stream.Log")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.NodeID == "" {
		p.NodeID = "node-" + newID()
	}
	if p.LeaseTTL <= 0 {
		p.LeaseTTL = DefaultLeaseTTL
	}
	if p.NotifyClaimTTL <= 0 {
		p.NotifyClaimTTL = DefaultNotifyClaimTTL
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{p: p, rdb: p.Redis, prefix: p.Log.Prefix(), every: p.LeaseTTL / 3,
		log: p.Logger.With("component", "auction", "node", p.NodeID),
		ctx: ctx, stop: cancel, owned: map[string]*owned{}, notifying: map[string]bool{}}
	script := func(body string) *redis.Script { return p.Log.Script(commonLua + body) }
	e.create, e.start, e.bid = script(createLua), script(startLua), script(bidLua)
	e.tick, e.acquire, e.release = script(tickLua), script(acquireLua), script(releaseLua)
	e.end, e.cancel, e.get = script(endLua), script(cancelLua), script(getLua)
	e.claim, e.ack = script(claimLua), script(ackLua)
	e.expired = redis.NewScript(expiredLua)
	e.wg.Add(1)
	go e.watch()
	return e, nil
}

// NodeID is the engine's node id.
func (e *Engine) NodeID() string { return e.p.NodeID }

// key is "<prefix>:{<room>}:<suffix>", the layout of stream.
func (e *Engine) key(room, suffix string) string { return e.prefix + ":{" + room + "}:" + suffix }

func (e *Engine) allOpenKey() string { return e.prefix + ":auction:open" }

func (e *Engine) unnotifiedKey() string { return e.prefix + ":auction:unnotified" }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID is 10 random base32 characters (50 bits).
func newID() string {
	var b [7]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])[:10]
}

// goodID: lot ids are ours (newID); anything else names no lot.
func goodID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (e *Engine) check(room string) error {
	if e.ctx.Err() != nil {
		return ErrClosed
	}
	if !goodRoom(room) {
		return invalid("room", "1..64 letters, digits, '_' or '-', starting with a letter or digit")
	}
	return nil
}

// goodRoom is the signaling layer's room charset: [A-Za-z0-9][A-Za-z0-9_-]{0,63}.
func goodRoom(room string) bool {
	if len(room) > 64 || !goodID(room) || room[0] == '_' || room[0] == '-' {
		return false
	}
	return true
}

// run runs a script and returns its answer as strings.
func (e *Engine) run(ctx context.Context, s *redis.Script, room, id string, args ...any) ([]string, error) {
	argv := append([]any{e.prefix, room, id}, args...)
	res, err := s.Run(ctx, e.rdb, nil, argv...).Slice()
	if err != nil {
		return nil, fmt.Errorf("auction: redis: %w", err)
	}
	out := make([]string, len(res))
	for i, v := range res {
		switch v := v.(type) {
		case string:
			out[i] = v
		case int64:
			out[i] = strconv.FormatInt(v, 10)
		default:
			return nil, fmt.Errorf("auction: unexpected script answer %T", v)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("auction: empty script answer")
	}
	return out, nil
}

// answer maps a script's error codes to the sentinels.
func answer(out []string) error {
	switch out[0] {
	case "not_found":
		return ErrNotFound
	case "conflict":
		why := ""
		if len(out) > 1 {
			why = out[1]
		}
		return fmt.Errorf("%w: %s", ErrConflict, why)
	}
	return nil
}

func decodeLot(s string) (Lot, error) {
	var l Lot
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return Lot{}, fmt.Errorf("auction: bad lot JSON: %w", err)
	}
	return l, nil
}

// Create queues a new lot in room.
func (e *Engine) Create(ctx context.Context, room string, in LotInput) (Lot, error) {
	if err := e.check(room); err != nil {
		return Lot{}, err
	}
	in, err := in.Normalize()
	if err != nil {
		return Lot{}, err
	}
	for range 5 {
		id := newID()
		static, err := staticJSON(id, room, in)
		if err != nil {
			return Lot{}, fmt.Errorf("auction: %w", err)
		}
		out, err := e.run(ctx, e.create, room, id, static, incrementsLua(in.Increments), in.StartPrice,
			in.DurationS*1000, in.ExtendWindowS*1000, in.ExtendToS*1000, in.MaxExtensions, in.Mode, MaxLots)
		if err != nil {
			return Lot{}, err
		}
		if out[0] == "exists" {
			continue
		}
		if err := answer(out); err != nil {
			return Lot{}, err
		}
		return decodeLot(out[1])
	}
	return Lot{}, errors.New("auction: no free lot id")
}

// Start opens a queued lot; its timer runs from now (the Redis clock) for duration_s. Only one
// lot of a room is open at a time (ErrConflict).
func (e *Engine) Start(ctx context.Context, room, id string) (Lot, error) {
	if err := e.check(room); err != nil {
		return Lot{}, err
	}
	if !goodID(id) {
		return Lot{}, ErrNotFound
	}
	out, err := e.run(ctx, e.start, room, id, e.p.NodeID, e.p.LeaseTTL.Milliseconds())
	if err != nil {
		return Lot{}, err
	}
	if err := answer(out); err != nil {
		return Lot{}, err
	}
	lot, err := decodeLot(out[1])
	if err != nil {
		return Lot{}, err
	}
	e.own(room, id, out[2])
	return lot, nil
}

// End ends an open lot now: sold to the leader, or unsold without bids (OnSettled runs).
func (e *Engine) End(ctx context.Context, room, id string) (Lot, error) {
	if err := e.check(room); err != nil {
		return Lot{}, err
	}
	if !goodID(id) {
		return Lot{}, ErrNotFound
	}
	out, err := e.run(ctx, e.end, room, id, e.claimMS())
	if err != nil {
		return Lot{}, err
	}
	if err := answer(out); err != nil {
		return Lot{}, err
	}
	e.disown(room, id)
	return e.settled(room, id, out)
}

// Cancel cancels a queued lot, or an open one before its first bid (else ErrConflict).
func (e *Engine) Cancel(ctx context.Context, room, id string) (Lot, error) {
	if err := e.check(room); err != nil {
		return Lot{}, err
	}
	if !goodID(id) {
		return Lot{}, ErrNotFound
	}
	out, err := e.run(ctx, e.cancel, room, id)
	if err != nil {
		return Lot{}, err
	}
	if err := answer(out); err != nil {
		return Lot{}, err
	}
	e.disown(room, id)
	return decodeLot(out[1])
}

// Bid places a bid. A refusal is a BidResult with Accepted false and a Code; errors are only
// ErrInvalid (a malformed request, which is not logged), ErrNotFound and Redis failures.
func (e *Engine) Bid(ctx context.Context, r BidRequest) (BidResult, error) {
	if err := e.check(r.Room); err != nil {
		return BidResult{}, err
	}
	name, err := r.check()
	if err != nil {
		return BidResult{}, err
	}
	if !goodID(r.LotID) {
		return BidResult{}, ErrNotFound
	}
	out, err := e.run(ctx, e.bid, r.Room, r.LotID, r.Subject, name, r.Amount, r.MaxAmount)
	if err != nil {
		return BidResult{}, err
	}
	if err := answer(out); err != nil {
		return BidResult{}, err
	}
	if len(out) < 4 {
		return BidResult{}, errors.New("auction: short bid answer")
	}
	res := BidResult{Accepted: out[0] == "", Code: out[0]}
	if err := json.Unmarshal([]byte(out[1]), &res.Bid); err != nil {
		return BidResult{}, fmt.Errorf("auction: bad bid JSON: %w", err)
	}
	if res.Lot, err = decodeLot(out[2]); err != nil {
		return BidResult{}, err
	}
	res.MinAmount, _ = strconv.ParseInt(out[3], 10, 64)
	return res, nil
}

// lots runs the read script (id: a lot, "" every lot, "*" the open one).
func (e *Engine) lots(ctx context.Context, room, id string) ([]Lot, error) {
	res, err := e.get.Run(ctx, e.rdb, nil, e.prefix, room, id).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("auction: redis: %w", err)
	}
	out := make([]Lot, 0, len(res))
	for _, s := range res {
		l, err := decodeLot(s)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Get returns a lot.
func (e *Engine) Get(ctx context.Context, room, id string) (Lot, error) {
	if err := e.check(room); err != nil {
		return Lot{}, err
	}
	if !goodID(id) {
		return Lot{}, ErrNotFound
	}
	l, err := e.lots(ctx, room, id)
	if err != nil {
		return Lot{}, err
	}
	if len(l) == 0 {
		return Lot{}, ErrNotFound
	}
	return l[0], nil
}

// List returns every lot of the room, oldest first.
func (e *Engine) List(ctx context.Context, room string) ([]Lot, error) {
	if err := e.check(room); err != nil {
		return nil, err
	}
	return e.lots(ctx, room, "")
}

// Current returns the room's open lot, or nil.
func (e *Engine) Current(ctx context.Context, room string) (*Lot, error) {
	if err := e.check(room); err != nil {
		return nil, err
	}
	l, err := e.lots(ctx, room, "*")
	if err != nil || len(l) == 0 {
		return nil, err
	}
	return &l[0], nil
}

// Bids returns a lot's bid log, in order.
func (e *Engine) Bids(ctx context.Context, room, id string) ([]Bid, error) {
	if err := e.check(room); err != nil {
		return nil, err
	}
	if !goodID(id) {
		return nil, ErrNotFound
	}
	return e.bids(ctx, room, id, -1)
}

// bids reads the first n entries of a lot's log (n < 0: all).
func (e *Engine) bids(ctx context.Context, room, id string, n int64) ([]Bid, error) {
	pipe := e.rdb.Pipeline()
	exists := pipe.Exists(ctx, e.key(room, "lot:"+id))
	stop := n - 1
	if n < 0 {
		stop = -1
	}
	raw := pipe.LRange(ctx, e.key(room, "lot:"+id+":bids"), 0, stop)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("auction: redis: %w", err)
	}
	if exists.Val() == 0 {
		return nil, ErrNotFound
	}
	out := make([]Bid, 0, len(raw.Val()))
	for _, s := range raw.Val() {
		var b Bid
		if err := json.Unmarshal([]byte(s), &b); err != nil {
			return nil, fmt.Errorf("auction: bad bid JSON: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// spawn runs f on a goroutine Close waits for; once Close has begun, right here.
func (e *Engine) spawn(f func()) {
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		f()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// Close stops this node's timers and hands their leases back (another node takes them over
// at its next look), waits for its goroutines (OnSettled calls included).
func (e *Engine) Close() error {
	e.mu.Lock()
	e.stop() // under mu: own and spawn see it before they add to wg
	e.mu.Unlock()
	e.wg.Wait()
	e.mu.Lock()
	left := make([]*owned, 0, len(e.owned))
	for _, o := range e.owned {
		left = append(left, o)
	}
	e.owned = map[string]*owned{}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, o := range left {
		if _, err := e.run(ctx, e.release, o.room, o.id, o.fence); err != nil {
			e.log.Warn("lot lease not released", "room", o.room, "lot", o.id, "err", err)
		}
	}
	return nil
}

// splitMember splits "<id>:<room>" (ids have no colon).
func splitMember(m string) (room, id string, ok bool) {
	id, room, ok = strings.Cut(m, ":")
	return room, id, ok && room != "" && id != ""
}
