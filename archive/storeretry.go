package archive

import (
	"context"
	"time"
)

// storeRetryEvery is how often a node with a job given up on (storage or Redis unreachable for
// all of its retries, about 30 s) looks whether storage answers again.
const storeRetryEvery = 10 * time.Second

// storeProbeKey is read (never written) to see whether storage answers: "not found" is an answer.
const storeProbeKey = "rec/.probe"

// runStoreRetry keeps the promise of MsgStoreFailed ("it is tried again later"): the periodic
// reconciler leaves failed recordings alone (only a restart retried them), so a storage outage
// longer than a job's retries left a show's recording failed until the node restarted. Once a
// job was given up on, this loop looks every storeRetryEvery whether storage answers and then
// reconciles the disk at once (as after a Redis loss, redisloss.go): the failed recordings go
// back to processing and their chunks that storage lacks are uploaded and queued (a chunk whose
// output is already in storage is skipped).
func (a *Archive) runStoreRetry() {
	defer a.wg.Done()
	t := time.NewTicker(storeRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		if !a.storeRetry.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
		_, err := a.exists(ctx, storeProbeKey)
		cancel()
		if err != nil {
			continue // still unreachable
		}
		a.storeRetry.Store(false)
		a.log.Info("storage answers again: retrying the recordings whose upload was given up on")
		if err := a.Reconcile(a.ctx, 0); err != nil {
			a.log.Warn("reconcile", "err", err)
		}
		// Reconcile leaves a recording that is still being recorded alone: look again once it
		// ended (its chunks given up on are on disk, not in the queue).
		live := a.rec.Live()
		a.mu.Lock()
		for id := range a.storeFailed {
			if live[id] {
				a.storeRetry.Store(true)
			} else {
				delete(a.storeFailed, id)
			}
		}
		a.mu.Unlock()
	}
}

// giveUp notes that a job of recording id was given up on: runStoreRetry retries it.
func (a *Archive) giveUp(id string) {
	a.mu.Lock()
	if a.storeFailed == nil {
		a.storeFailed = map[string]bool{}
	}
	a.storeFailed[id] = true
	a.mu.Unlock()
	a.storeRetry.Store(true)
}
