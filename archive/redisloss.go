package archive

import (
	"time"

	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/transcode"
)

// A Redis that restarts without its data (a crash with no persistence, a failover to an empty
// replica, a FLUSHALL) takes the queued transcode jobs and the recordings' state with it. The
// disk is the source of truth (Reconcile), but the periodic reconciler runs every few minutes
// and leaves recordings still being recorded alone. So each node keeps a marker key in Redis and
// looks for it every redisCheck: when it is gone, Redis lost its data, and the node re-enqueues
// at once everything its disk has that the archive lacks — the finished chunks of the recordings
// it is writing now included.

const (
	// redisMarker is the key whose absence means Redis lost its data (ChannelFor appends the DB).
	redisMarker = "relaycast:archive:marker"
	redisCheck  = 2 * time.Second
)

func (a *Archive) markerKey() string { return ChannelFor(redisMarker, a.redisOpt) }

// markRedis sets the marker (at start, and after a loss was seen).
func (a *Archive) markRedis() error {
	return a.rdb.Set(a.ctx, a.markerKey(), time.Now().UTC().Format(time.RFC3339), 0).Err()
}

// watchRedis runs until the archive closes: a missing marker (Redis answering, but without it)
// is a loss of Redis's data.
func (a *Archive) watchRedis() {
	defer a.wg.Done()
	marked := a.markRedis() == nil
	t := time.NewTicker(redisCheck)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		n, err := a.rdb.Exists(a.ctx, a.markerKey()).Result()
		switch {
		case err != nil: // down: nothing to conclude until it answers
		case n == 1:
			marked = true
		case !marked: // the first SET failed (Redis was down at start): set it now
			marked = a.markRedis() == nil
		default:
			a.log.Warn("Redis lost its data (restarted empty?): re-enqueueing what the disk has")
			a.stats.redisLosses.Add(1)
			if err := a.markRedis(); err != nil {
				marked = false
			}
			a.recoverRedisLoss()
		}
	}
}

// recoverRedisLoss re-enqueues the recordings on disk that are not archived in full (Reconcile,
// whatever their age) and the finished chunks of those being recorded. A chunk whose output is
// already in storage is skipped; one a worker was transcoding at the moment of the loss may be
// done twice (the same output written again).
func (a *Archive) recoverRedisLoss() {
	if err := a.Reconcile(a.ctx, 0); err != nil {
		a.log.Warn("reconcile after the Redis loss", "err", err)
	}
	for id := range a.rec.Live() {
		n := 0
		for _, c := range recorder.ClosedChunks(a.rec.Dir(), id) {
			if ok, _ := a.exists(a.ctx, transcode.ChunkDoneKey(id, c.Index)); ok {
				continue
			}
			a.submit(archiveJob{chunk: &c})
			n++
		}
		a.log.Info("re-enqueued the finished chunks of a live recording", "recording", id, "chunks", n)
	}
}
