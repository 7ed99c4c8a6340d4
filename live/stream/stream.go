// Package stream is each live room's one ordered event stream: chat messages, lots, bids,
// moderation and reactions all become events with a per-room sequence number, kept in Redis
// (the last Keep of each room, for history and resume) and fanned out to every node through
// one Redis pub/sub channel. The changes themselves are Lua scripts that end with emit (see
// EmitLua), so a change and its event are one atomic step and the event order is the order of
// the changes. The embedded Redis (miniredis) runs the same scripts.
//
// Keys: <prefix>:{<room>}:seq (counter), <prefix>:{<room>}:log (sorted set, score = seq,
// member = the event's JSON). Channel: Params.Channel (default <prefix>:events).
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one thing that happened in a room.
type Event struct {
	Seq  int64           `json:"seq"`  // 1, 2, 3… per room, no gaps
	Room string          `json:"room"` // the room
	Kind string          `json:"kind"` // chat, lot, bid, … (docs: signaling/PROTOCOL.md)
	At   int64           `json:"at"`   // server time, ms since the Unix epoch
	Data json.RawMessage `json:"data"` // the kind's JSON
}

// DefaultPrefix starts every key.
const DefaultPrefix = "relaycast:live"

// Params configures a Log.
type Params struct {
	Redis  redis.UniversalClient
	Prefix string // default DefaultPrefix
	// Channel is the pub/sub channel (default <Prefix>:events). Channels are shared by every
	// database of a Redis server: the wiring adds the database to keep deployments apart.
	Channel string
	Logger  *slog.Logger
	// Buffer is the events a subscriber may fall behind before it is dropped (default 1024).
	Buffer int
	// Keep is the events kept per room for history and resume (default 2000).
	Keep int
	// Batch is the shortest time between two hand-offs of a room's events to its SubscribeFunc
	// subscribers (the sockets): an event that comes sooner after the last one waits for the
	// rest of it, and they are handed over together, so a busy room's burst of events costs one
	// socket write per viewer instead of one per event. An event after a quiet spell goes at
	// once. Default DefaultBatch; negative: every event at once.
	Batch time.Duration
	// Prompt reports the event kinds that never wait for Batch: such an event is handed over at
	// once, with the events waiting before it (nil: every kind may wait). The live room makes
	// its auction's events prompt (live.PromptKind) and lets chat and reactions wait.
	Prompt func(kind string) bool
}

// DefaultBatch is Params.Batch's default: at most 25 writes a second per socket from a busy
// room, each event at most 40 ms late.
const DefaultBatch = 40 * time.Millisecond

// yieldEvery is how many sockets an event is written into between yields of the dispatcher.
const yieldEvery = 32

// Log is the event stream of every room, as seen from one node. It is safe for concurrent use.
type Log struct {
	p      Params
	log    *slog.Logger
	emit   *redis.Script
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	subs map[string]map[*sub]struct{} // room → subscribers; "" = every room
	last map[string]int64             // room → last seq delivered on this node
	bat  map[string]*batch            // room → its events waiting for the SubscribeFunc subscribers
}

// batch is a room's events not yet handed to its SubscribeFunc subscribers (Params.Batch).
type batch struct {
	events []Event
	// cool: a hand-off was less than Params.Batch ago; its timer hands over what came since,
	// or ends the cool-down if nothing did. No clock is read (TestEngineReadsNoWallClock).
	cool bool
}

type sub struct {
	ch     chan Event         // Subscribe's; nil for SubscribeFunc's
	fn     func([]Event) bool // SubscribeFunc's
	closed bool
}

// New subscribes to the channel (returning once the subscription is live, so events emitted
// after New are received) and starts delivering; Close stops it.
func New(p Params) (*Log, error) {
	if p.Redis == nil {
		return nil, errors.New("stream: no Redis")
	}
	if p.Prefix == "" {
		p.Prefix = DefaultPrefix
	}
	if p.Channel == "" {
		p.Channel = p.Prefix + ":events"
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Buffer <= 0 {
		p.Buffer = 1024
	}
	if p.Keep <= 0 {
		p.Keep = 2000
	}
	if p.Batch == 0 {
		p.Batch = DefaultBatch
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Log{p: p, log: p.Logger.With("component", "stream"), ctx: ctx, cancel: cancel,
		subs: map[string]map[*sub]struct{}{}, last: map[string]int64{}, bat: map[string]*batch{}}
	l.emit = l.Script(emitBody)
	ps := p.Redis.Subscribe(ctx, p.Channel)
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if _, err := ps.Receive(sctx); err != nil {
		_ = ps.Close()
		cancel()
		return nil, fmt.Errorf("stream: subscribe %s: %w", p.Channel, err)
	}
	l.wg.Add(1)
	go l.run(ps)
	return l, nil
}

// Prefix is the key prefix.
func (l *Log) Prefix() string { return l.p.Prefix }

// Key is "<prefix>:{<room>}:<suffix>", the key layout of every live package.
func (l *Log) Key(room, suffix string) string { return l.p.Prefix + ":{" + room + "}:" + suffix }

// Script returns a script whose body runs after EmitLua (and its constants), so it can call
// now_ms, room_key and emit.
func (l *Log) Script(body string) *redis.Script {
	return redis.NewScript(preamble(l.p.Channel, l.p.Keep) + EmitLua + body)
}

// Emit appends an event of kind with data (marshalled to JSON) to room's stream.
func (l *Log) Emit(ctx context.Context, room, kind string, data any) (Event, error) {
	if room == "" {
		return Event{}, ErrBadRoom
	}
	if l.ctx.Err() != nil {
		return Event{}, ErrClosed
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("stream: %s data: %w", kind, err)
	}
	s, err := l.emit.Run(ctx, l.p.Redis, nil, l.p.Prefix, room, kind, string(raw)).Text()
	if err != nil {
		return Event{}, fmt.Errorf("stream: emit %s: %w", kind, err)
	}
	var e Event
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return Event{}, fmt.Errorf("stream: emitted event: %w", err)
	}
	return e, nil
}

// Seq is the room's last sequence number (0 before its first event).
func (l *Log) Seq(ctx context.Context, room string) (int64, error) {
	n, err := l.p.Redis.Get(ctx, l.Key(room, "seq")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream: seq: %w", err)
	}
	return n, nil
}

// After returns up to limit (default and at most Keep) of room's events with a seq above
// after, oldest first. ErrGap: some of them are no longer kept.
func (l *Log) After(ctx context.Context, room string, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > l.p.Keep {
		limit = l.p.Keep
	}
	key := l.Key(room, "log")
	if after > 0 {
		oldest, err := l.p.Redis.ZRangeWithScores(ctx, key, 0, 0).Result()
		if err != nil {
			return nil, fmt.Errorf("stream: log: %w", err)
		}
		if len(oldest) == 1 && int64(oldest[0].Score) > after+1 {
			return nil, ErrGap
		}
	}
	return decodeLog(l.p.Redis.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, ByScore: true,
		Start: "(" + strconv.FormatInt(after, 10), Stop: "+inf", Count: int64(limit)}).Result())
}

// Last returns the room's last n events, oldest first.
func (l *Log) Last(ctx context.Context, room string, n int) ([]Event, error) {
	if n <= 0 {
		return nil, nil
	}
	return decodeLog(l.p.Redis.ZRange(ctx, l.Key(room, "log"), int64(-n), -1).Result())
}

// decodeLog decodes the members of a read of a room's log.
func decodeLog(raw []string, err error) ([]Event, error) {
	if err != nil {
		return nil, fmt.Errorf("stream: log: %w", err)
	}
	out := make([]Event, 0, len(raw))
	for _, s := range raw {
		var e Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("stream: bad event in the log: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Subscribe returns this node's copy of room's events from now on, in seq order with no gaps
// or repeats (a gap left by a lost pub/sub message is filled from the log), and a function that
// ends the subscription. A subscriber that falls Buffer events behind has its channel closed:
// it must resume from its last seq (After) or give up (a slow socket is dropped, the room goes on).
func (l *Log) Subscribe(room string) (<-chan Event, func()) { return l.subscribe(room) }

// SubscribeFunc calls fn with the room's events, one or more at a time (Params.Batch), in seq
// order with no gaps or repeats, from the goroutine that hands them over (once per batch for
// all of this node's subscribers: fn must not block, must not keep the slice, and must not
// call the Log). fn returning false ends the subscription. The returned stop ends it too;
// after stop returns, fn is not called again.
func (l *Log) SubscribeFunc(room string, fn func([]Event) bool) (stop func()) {
	s := &sub{fn: fn}
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		return func() {}
	}
	m := l.subs[room]
	if m == nil {
		m = map[*sub]struct{}{}
		l.subs[room] = m
	}
	m[s] = struct{}{}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.drop(room, s)
	}
}

// SubscribeAll is Subscribe for the events of every room.
func (l *Log) SubscribeAll() (<-chan Event, func()) { return l.subscribe("") }

func (l *Log) subscribe(room string) (<-chan Event, func()) {
	s := &sub{ch: make(chan Event, l.p.Buffer)}
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	m := l.subs[room]
	if m == nil {
		m = map[*sub]struct{}{}
		l.subs[room] = m
	}
	m[s] = struct{}{}
	l.mu.Unlock()
	return s.ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.drop(room, s)
	}
}

// drop removes s and closes its channel (l.mu held).
func (l *Log) drop(room string, s *sub) {
	if m := l.subs[room]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(l.subs, room)
		}
	}
	if !s.closed {
		s.closed = true
		if s.ch != nil {
			close(s.ch)
		}
	}
}

func (l *Log) run(ps *redis.PubSub) {
	defer l.wg.Done()
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(10*time.Second), redis.WithChannelSize(4096))
	for {
		select {
		case <-l.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var e Event
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil || e.Room == "" || e.Seq <= 0 {
				l.log.Warn("bad event on the channel", "err", err)
				continue
			}
			l.receive(e)
		}
	}
}

// receive delivers e after any events this node missed before it (a pub/sub message lost in a
// reconnect), and drops repeats.
func (l *Log) receive(e Event) {
	l.mu.Lock()
	last, seen := l.last[e.Room]
	l.mu.Unlock()
	if seen && e.Seq <= last {
		return
	}
	if seen && e.Seq > last+1 {
		ctx, cancel := context.WithTimeout(l.ctx, 2*time.Second)
		missed, err := l.After(ctx, e.Room, last, int(e.Seq-last-1))
		cancel()
		if err != nil {
			l.log.Warn("cannot fill a gap in the room's events", "room", e.Room, "after", last, "next", e.Seq, "err", err)
		}
		for _, m := range missed {
			if m.Seq < e.Seq {
				l.deliver(m)
			}
		}
	}
	l.deliver(e)
}

func (l *Log) deliver(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Seq <= l.last[e.Room] {
		return
	}
	l.last[e.Room] = e.Seq
	fns := false
	for _, room := range [2]string{e.Room, ""} {
		for s := range l.subs[room] {
			if s.fn != nil {
				fns = true
				continue
			}
			select {
			case s.ch <- e:
			default: // too slow: dropped, the others never wait
				l.log.Debug("dropping a slow subscriber", "room", e.Room)
				l.drop(room, s)
			}
		}
	}
	if fns {
		l.queue(e)
	}
}

// queue hands e to the room's SubscribeFunc subscribers now, if the room's last hand-off is
// Params.Batch old, or else with the events that follow it when it is (l.mu held).
func (l *Log) queue(e Event) {
	b := l.bat[e.Room]
	if b == nil {
		b = &batch{}
		l.bat[e.Room] = b
	}
	b.events = append(b.events, e)
	if b.cool && (l.p.Prompt == nil || !l.p.Prompt(e.Kind)) {
		return // the cool-down's timer hands it over
	}
	l.handOff(e.Room, b)
	if !b.cool && l.p.Batch > 0 {
		l.coolDown(e.Room, b)
	}
}

// coolDown starts the room's Params.Batch after a hand-off (l.mu held).
func (l *Log) coolDown(room string, b *batch) {
	b.cool = true
	time.AfterFunc(l.p.Batch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		b.cool = false
		if l.ctx.Err() != nil || l.bat[room] != b || len(b.events) == 0 {
			if len(l.subs[room]) == 0 && l.bat[room] == b {
				delete(l.bat, room) // nobody here follows the room any more
			}
			return
		}
		l.handOff(room, b)
		l.coolDown(room, b)
	})
}

// handOff gives the room's waiting events to its SubscribeFunc subscribers (l.mu held).
func (l *Log) handOff(room string, b *batch) {
	events := b.events
	b.events = nil
	if len(events) == 0 {
		return
	}
	n := 0
	for _, r := range [2]string{room, ""} {
		for s := range l.subs[r] {
			if s.fn == nil {
				continue
			}
			if !s.fn(events) {
				l.drop(r, s)
			}
			if n++; n%yieldEvery == 0 {
				// A room's hand-off is one socket write per viewer (~5 µs each): yield now and
				// then so the video's goroutines never wait behind a whole room's burst
				// (1,000 sockets ≈ 5 ms) on a busy core.
				runtime.Gosched()
			}
		}
	}
}

// Close stops receiving, closes every subscriber's channel and waits.
func (l *Log) Close() error {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	for room, m := range l.subs {
		for s := range m {
			l.drop(room, s)
		}
	}
	l.mu.Unlock()
	return nil
}
