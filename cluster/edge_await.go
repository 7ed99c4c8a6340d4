package cluster

import (
	"context"
	"time"
)

// waiter polls the Locator for one room while someone here waits for it (Edge.Await).
type waiter struct {
	n      int
	cancel context.CancelFunc
}

// Await makes the Edge watch for room being served elsewhere while someone waits for it here
// (a /ws viewer that opened the page before the seller went live, or one whose room just
// ended): until stop is called, it asks the Locator every AwaitEvery while the room is not live
// here, and pulls it when a node other than this one owns it — once per owner and fence, so a
// pull that lingered out is not restarted for the same broadcast; a failed pull is tried again.
// The local room going live is the waiting viewer's `live` event. Calls for one room share one
// poller; stop is idempotent.
func (e *Edge) Await(room string) (stop func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return func() {}
	}
	w := e.waits[room]
	if w == nil {
		ctx, cancel := context.WithCancel(e.ctx)
		w = &waiter{cancel: cancel}
		e.waits[room] = w
		e.wg.Add(1)
		go e.await(ctx, room)
	}
	w.n++
	done := false
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if done {
			return
		}
		done = true
		if w.n--; w.n == 0 {
			w.cancel()
			if e.waits[room] == w {
				delete(e.waits, room)
			}
		}
	}
}

func (e *Edge) await(ctx context.Context, room string) {
	defer e.wg.Done()
	tick := time.NewTicker(e.p.AwaitEvery)
	defer tick.Stop()
	var pulled Owner // the owner (node, fence) this poller last pulled from
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, ok := e.p.SFU.Room(room); ok {
			continue
		}
		owner, ok, err := e.locate(ctx, room)
		if err != nil || !ok || owner.Node == e.p.Self || (owner.Node == pulled.Node && owner.Fence == pulled.Fence) {
			continue
		}
		if err := e.Ensure(ctx, room); err != nil {
			e.log.Debug("awaited room not pulled", "room", room, "err", err)
			continue
		}
		pulled = owner
	}
}
