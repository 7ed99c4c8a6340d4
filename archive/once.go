package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Every node of a cluster hears every worker update (the updates channel is Redis pub/sub) and
// applies it to its own state and to the shared catalog, which is idempotent. What must happen
// once per update, not once per node, is announcing it: the SSE event (Redis pub/sub again, so
// every node's clients would get one copy per node) and the job counters of /metrics. The first
// node to claim the update's key in Redis announces it.
//
// A progress update is best announced by a node that knows the recording's chunk count (the one
// recording it), which turns it into an overall percentage; the others wait announceDelay
// before they claim, so that node comes first unless it is gone.

const (
	// announcePrefix is the key of an announced update: prefix + ":" + SHA-256 of its bytes (every
	// node received the same bytes; each update's Nonce makes two that say the same thing two).
	announcePrefix = "relaycast:archive:announced"
	announceTTL    = 2 * time.Minute
	// announceDelay is how long a node without the chunk count lets the others come first.
	announceDelay = 150 * time.Millisecond
)

// announce runs fn if this node is the first to claim the update raw; first says it has what
// makes the best announcement. Without Redis (never, today: the embedded default is an
// in-process Redis) it just runs fn. A failing Redis announces on every node rather than none.
func (a *Archive) announce(raw []byte, first bool, fn func()) {
	if a.rdb == nil || len(raw) == 0 {
		fn()
		return
	}
	sum := sha256.Sum256(raw)
	key := ChannelFor(announcePrefix, a.redisOpt) + ":" + hex.EncodeToString(sum[:16])
	claim := func() {
		if a.ctx.Err() != nil {
			return
		}
		ok, err := a.rdb.SetNX(a.ctx, key, 1, announceTTL).Result()
		if err != nil {
			a.log.Warn("cannot claim an update's announcement: announcing it anyway", "err", err)
			ok = true
		}
		if ok {
			fn()
		}
	}
	if first {
		claim()
		return
	}
	a.wg.Add(1)
	time.AfterFunc(announceDelay, func() {
		defer a.wg.Done()
		claim()
	})
}
