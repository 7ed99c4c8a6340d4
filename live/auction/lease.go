package auction

import (
	"context"
	"strconv"
	"time"
)

// Lot timers: one owner per open lot, cluster-wide.
//
// The node that starts a lot holds its lease (owner, lease_until on the Redis clock, and a
// fencing token, fence, incremented on every acquisition) and runs its timer: every
// LeaseTTL/3, and at ends_at, it calls tickLua with its token, which renews the lease while
// the lot runs and settles it once ends_at has passed. Every engine looks as often for open lots
// of any room whose lease has expired (P:auction:open, scored by lease_until) and takes their
// lease (acquireLua): the lot of a dead, stopped or partitioned node goes on from its state in
// Redis. A node that lost its lease holds a stale token, and tickLua refuses it ('fenced')
// without writing anything: it can neither renew nor settle. Settling happens in a script that
// checks status = open, so exactly one call, of one node, settles a lot (End included).
// Redis key expiry is not used (the embedded miniredis does not expire keys on its own).

// own starts this node's timer for a lot it holds the lease of (token fence).
func (e *Engine) own(room, id, fence string) {
	k := room + "\x00" + id
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return
	}
	if o := e.owned[k]; o != nil {
		o.cancel()
	}
	ctx, cancel := context.WithCancel(e.ctx)
	o := &owned{room: room, id: id, fence: fence, cancel: cancel}
	e.owned[k] = o
	e.wg.Add(1)
	go e.runTimer(ctx, o)
}

// disown stops the timer of a lot that ended by other means (End, Cancel).
func (e *Engine) disown(room, id string) {
	k := room + "\x00" + id
	e.mu.Lock()
	defer e.mu.Unlock()
	if o := e.owned[k]; o != nil {
		o.cancel()
		delete(e.owned, k)
	}
}

// forget drops o once its lot is done with (if it is still the current timer of the lot).
func (e *Engine) forget(o *owned) {
	k := o.room + "\x00" + o.id
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owned[k] == o {
		delete(e.owned, k)
	}
	o.cancel()
}

func (e *Engine) isOwned(room, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owned[room+"\x00"+id] != nil
}

// tickResult is the answer of tickLua.
type tickResult struct {
	code      string // wait, settled, fenced, gone
	remaining time.Duration
	out       []string
}

// tickOnce is one timer call with token fence.
func (e *Engine) tickOnce(ctx context.Context, room, id, fence string) (tickResult, error) {
	out, err := e.run(ctx, e.tick, room, id, fence, e.p.NodeID, e.p.LeaseTTL.Milliseconds(), e.claimMS())
	if err != nil {
		return tickResult{}, err
	}
	r := tickResult{code: out[0], out: out}
	if r.code == "wait" && len(out) >= 3 {
		ends, _ := strconv.ParseInt(out[1], 10, 64)
		now, _ := strconv.ParseInt(out[2], 10, 64)
		r.remaining = time.Duration(ends-now) * time.Millisecond
	}
	return r, nil
}

// runTimer is the owner loop of one lot.
func (e *Engine) runTimer(ctx context.Context, o *owned) {
	defer e.wg.Done()
	wait := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait = e.every
		if e.paused.Load() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, e.p.LeaseTTL)
		r, err := e.tickOnce(cctx, o.room, o.id, o.fence)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("lot timer", "room", o.room, "lot", o.id, "err", err)
			wait = min(e.every, 200*time.Millisecond)
			continue
		}
		switch r.code {
		case "wait":
			wait = min(e.every, r.remaining)
		case "settled":
			e.forget(o)
			_, _ = e.settled(o.room, o.id, r.out)
			return
		case "fenced":
			e.log.Warn("lot lease lost to another node", "room", o.room, "lot", o.id, "fence", o.fence)
			e.forget(o)
			return
		default: // gone: ended or cancelled elsewhere
			e.forget(o)
			return
		}
	}
}

// watch looks at every open lot every LeaseTTL/3 and takes over those whose lease expired, and
// at the settled lots whose OnSettled claim expired (notify.go).
func (e *Engine) watch() {
	defer e.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-timer.C:
		}
		if !e.paused.Load() {
			e.scan(e.ctx)
			e.scanNotify(e.ctx)
		}
		timer.Reset(e.every)
	}
}

// scan takes over the open lots whose lease has expired (the scores of P:auction:open are the
// lease expiries); it returns how many it took.
func (e *Engine) scan(ctx context.Context) int {
	took := 0
	for _, l := range e.expiredLots(ctx, e.allOpenKey(), 500, "the open lots", e.isOwned) {
		room, id := l.room, l.id
		out, err := e.run(ctx, e.acquire, room, id, e.p.NodeID, e.p.LeaseTTL.Milliseconds())
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("taking over a lot", "room", room, "lot", id, "err", err)
			}
			continue
		}
		if out[0] == "ok" && len(out) > 1 {
			e.log.Info("took over the timer of a lot", "room", room, "lot", id, "fence", out[1])
			e.own(room, id, out[1])
			took++
		}
	}
	return took
}

// lotRef names a lot of a member "ID:ROOM" of one of the engine's ZSETs.
type lotRef struct{ room, id string }

// expiredLots returns the lots of the ZSET key whose score (an expiry in ms, by the Redis
// clock) has passed, at most limit, less those skip says this node already handles. A failure
// is logged (naming what) and returns none.
func (e *Engine) expiredLots(ctx context.Context, key string, limit int, what string, skip func(room, id string) bool) []lotRef {
	members, err := e.expired.Run(ctx, e.rdb, []string{key}, limit).StringSlice()
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("looking at "+what, "err", err)
		}
		return nil
	}
	var lots []lotRef
	for _, m := range members {
		room, id, ok := splitMember(m)
		if ok && !skip(room, id) {
			lots = append(lots, lotRef{room, id})
		}
	}
	return lots
}
