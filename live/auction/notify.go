package auction

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// OnSettled, at least once across nodes.
//
// The settle script (the owner's tick, or End) does not only settle a lot: in the same atomic
// step it keeps the settled Lot's JSON and its log length in the lot's hash and records the lot
// as settled, not yet notified — a member of P:auction:unnotified whose score is the expiry of
// a claim (Redis clock, ms) taken at once by the settling node, with a fencing token (nfence,
// incremented on every claim). That node calls OnSettled and, once it returned, acknowledges
// with its token (ackLua): the member is removed and the lot is never notified again.
//
// Every engine's look (every LeaseTTL/3, with the lot leases) also lists the members whose
// claim expired — the settling node died, or its call hangs — and claims them (claimLua: a new
// token, a new expiry), calls OnSettled with the stored lot and the log as it was when the lot
// ended, then acknowledges. Only one claim of a lot is live at a time, so two nodes call
// OnSettled for one lot at once only when a claim expired before its call returned; an ack
// with a stale token is refused (the newer claim's node acknowledges). A node never claims a
// lot whose call it is running itself. Receivers dedupe by the lot id (the webhooks'
// "lot.won:<id>" / "lot.ended:<id>" idempotency keys; the catalog's SaveLot is idempotent).

// claimLua claims the OnSettled call of a settled lot whose claim has expired: ARGV 4 claim ms.
// → {'ok', lot, log length, token} | {'held'} (a live claim) | {'done'} (acknowledged) | {'gone'}
const claimLua = `
local sc = redis.call('ZSCORE', NOTIFY, MEMBER)
if not sc then return {'done'} end
local h = load(ID)
if not h or (h.settled_lot or '') == '' then
  redis.call('ZREM', NOTIFY, MEMBER)
  return {'gone'}
end
local now = now_ms()
if tonumber(sc) > now then return {'held'} end
local token = redis.call('HINCRBY', lkey(ID), 'nfence', 1)
redis.call('ZADD', NOTIFY, d(now + tonumber(ARGV[4])), MEMBER)
return {'ok', h.settled_lot, h.settled_bids or '0', d(token)}
`

// ackLua acknowledges a lot's OnSettled call: ARGV 4 the caller's claim token.
// → {'ok'} | {'fenced'} (another node claimed it since) | {'done'} (nothing to acknowledge)
const ackLua = `
if not redis.call('ZSCORE', NOTIFY, MEMBER) then return {'done'} end
local h = load(ID)
if h and h.nfence ~= ARGV[4] then return {'fenced'} end
redis.call('ZREM', NOTIFY, MEMBER)
return {'ok'}
`

// notifyScan is the most expired claims one look takes.
const notifyScan = 100

// claimMS is the claim a settle script takes for this node's OnSettled call (0: no OnSettled,
// nothing to record).
func (e *Engine) claimMS() int64 {
	if e.p.OnSettled == nil {
		return 0
	}
	return max(1, e.p.NotifyClaimTTL.Milliseconds())
}

// settled handles a settle script's {'settled', lot, log length, notify token}: OnSettled with
// the lot and its log as it was when the lot ended, then the acknowledgement.
func (e *Engine) settled(room, id string, out []string) (Lot, error) {
	if len(out) < 4 {
		return Lot{}, errors.New("auction: short settle answer")
	}
	lot, err := decodeLot(out[1])
	if err != nil {
		return Lot{}, err
	}
	e.log.Info("lot settled", "room", room, "lot", id, "status", lot.Status, "price", lot.Price,
		"bids", lot.BidCount, "extensions", lot.Extensions)
	if e.dropNotify.Load() { // tests: the node dies here, it stands still from now on
		e.paused.Store(true)
		return lot, nil
	}
	if e.p.OnSettled == nil || out[3] == "0" {
		return lot, nil
	}
	n, _ := strconv.ParseInt(out[2], 10, 64)
	e.notify(room, id, lot, n, out[3])
	return lot, nil
}

// notify runs OnSettled for a lot this node holds the claim (token) of, then acknowledges.
// A failure leaves the claim to expire: the call is made again, here or elsewhere.
func (e *Engine) notify(room, id string, lot Lot, n int64, token string) {
	k := room + "\x00" + id
	e.mu.Lock()
	if e.notifying[k] {
		e.mu.Unlock()
		return
	}
	e.notifying[k] = true
	e.mu.Unlock()
	e.spawn(func() {
		defer func() {
			e.mu.Lock()
			delete(e.notifying, k)
			e.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		bids, err := e.bids(ctx, room, id, n)
		cancel()
		if err != nil {
			e.log.Warn("reading the bid log of a settled lot (OnSettled is retried when the claim expires)",
				"room", room, "lot", id, "err", err)
			return
		}
		e.p.OnSettled(lot, bids)
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := e.run(ctx, e.ack, room, id, token)
		switch {
		case err != nil:
			e.log.Warn("OnSettled not acknowledged (it runs again when the claim expires)",
				"room", room, "lot", id, "err", err)
		case out[0] == "fenced":
			e.log.Warn("OnSettled returned after its claim expired; another node claimed it",
				"room", room, "lot", id, "token", token)
		}
	})
}

func (e *Engine) isNotifying(room, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notifying[room+"\x00"+id]
}

// scanNotify claims the settled lots whose OnSettled claim has expired and runs their
// OnSettled; it returns how many it claimed. An engine without OnSettled claims nothing.
func (e *Engine) scanNotify(ctx context.Context) int {
	if e.p.OnSettled == nil {
		return 0
	}
	took := 0
	for _, l := range e.expiredLots(ctx, e.unnotifiedKey(), notifyScan, "the unnotified lots", e.isNotifying) {
		room, id := l.room, l.id
		out, err := e.run(ctx, e.claim, room, id, e.claimMS())
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("claiming the OnSettled of a lot", "room", room, "lot", id, "err", err)
			}
			continue
		}
		if out[0] != "ok" || len(out) < 4 {
			continue
		}
		lot, err := decodeLot(out[1])
		if err != nil {
			e.log.Warn("claimed a settled lot", "room", room, "lot", id, "err", err)
			continue
		}
		n, _ := strconv.ParseInt(out[2], 10, 64)
		e.log.Info("running the OnSettled of a lot whose claim expired", "room", room, "lot", id,
			"token", out[3])
		e.notify(room, id, lot, n, out[3])
		took++
	}
	return took
}
