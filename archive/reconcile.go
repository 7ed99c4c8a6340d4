package archive

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// The reconciler and retention: what the disk has that storage and the queue lack, at start,
// periodically and after a Redis loss or a storage outage (redisloss.go, storeretry.go).

func (a *Archive) runMaintenance(every time.Duration) {
	defer a.wg.Done()
	if err := a.Reconcile(a.ctx, 0); err != nil {
		a.log.Warn("reconcile", "err", err)
	}
	t := time.NewTicker(min(every, time.Minute))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-a.ctx.Done():
			return
		case now := <-t.C:
			if a.cfg.Retention > 0 {
				if n, err := recorder.RemoveRaw(a.rec.Dir(), a.cfg.Retention, now); err != nil {
					a.log.Warn("retention", "err", err)
				} else if n > 0 {
					a.log.Info("removed raw recordings past retention", "count", n)
				}
			}
			if now.Sub(last) >= every {
				last = now
				// Recordings that ended recently are still being processed normally.
				if err := a.Reconcile(a.ctx, every); err != nil {
					a.log.Warn("reconcile", "err", err)
				}
			}
		}
	}
}

// Reconcile re-enqueues every recording on disk that the archive does not have in full (the disk,
// not the queue, is the source of truth: a wiped Redis or a killed server loses nothing). It
// skips recordings being recorded and those that ended less than minAge ago; with minAge > 0
// (periodic runs) also those marked failed.
func (a *Archive) Reconcile(ctx context.Context, minAge time.Duration) error {
	pending, err := recorder.Scan(a.rec.Dir(), a.rec.Live())
	for _, p := range pending {
		m := p.Manifest
		if m.EndedAt != nil && time.Since(*m.EndedAt) < minAge {
			continue
		}
		if a.archivedInFull(ctx, m.ID, m.Chunks) {
			// Done, but the ready update was missed (server down at that moment).
			if _, err := a.cat.Get(ctx, m.ID); err == nil {
				_ = recorder.MarkArchived(a.rec.Dir(), m.ID)
				continue
			}
		}
		cur, err := a.cat.Get(ctx, m.ID)
		if minAge > 0 && err == nil && cur.Status == catalog.StatusFailed {
			continue // periodic runs leave failed recordings alone; a restart retries them
		}
		if mine, ok := a.cont.foreign(ctx, m.ID); ok {
			// The recording went on on another node, which ends it: only the chunks of this
			// node's parts are uploaded (a hole that comes late joins in order: the chunk that
			// was in flight at a kill is one, the takeover reserved its index,
			// continue_inflight.go); a chunk past that lies in the next node's part and is
			// dropped; the catalog entry is not touched here.
			left := 0
			for i := range p.Chunks {
				c := p.Chunks[i]
				if !mine(c.Index) {
					a.log.Warn("chunk dropped: the recording went on on another node from before it", "recording", m.ID, "chunk", c.Index)
					continue
				}
				if ok, _ := a.exists(ctx, transcode.ChunkDoneKey(m.ID, c.Index)); !ok {
					if c.Width == 0 { // the chunk in flight: its size is the recording's
						c.Width, c.Height = m.Width, m.Height
					}
					a.submit(archiveJob{chunk: &c})
					left++
				}
			}
			if left == 0 && err == nil && cur.Status == catalog.StatusReady {
				_ = recorder.MarkArchived(a.rec.Dir(), m.ID) // nothing of it left here
			}
			continue
		}
		if errors.Is(err, catalog.ErrNotFound) {
			_ = a.cat.Put(ctx, catalog.Recording{ID: m.ID, Room: m.Room, Title: m.Room + " — " + m.StartedAt.Format("2006-01-02 15:04"),
				StartedAt: m.StartedAt, EndedAt: m.EndedAt, Status: catalog.StatusProcessing})
		} else if err == nil {
			_, _ = a.cat.Update(ctx, m.ID, func(r *catalog.Recording) error {
				if r.Status == catalog.StatusReady {
					return errNoChange
				}
				r.Status, r.Error, r.EndedAt = catalog.StatusProcessing, "", m.EndedAt
				if m.EndedAt != nil {
					r.Duration = m.EndedAt.Sub(m.StartedAt).Seconds()
				}
				return nil
			})
		}
		if m.Interrupted && a.cfg.ReconnectGrace > 0 {
			a.cont.ended(m) // this node's part ended with its process (continue.go)
		}
		a.log.Info("reconciling recording", "recording", m.ID, "chunks", len(p.Chunks), "interrupted", m.Interrupted)
		for i := range p.Chunks {
			c := p.Chunks[i]
			if ok, _ := a.exists(ctx, transcode.ChunkDoneKey(m.ID, c.Index)); ok {
				continue
			}
			if c.Width == 0 {
				c.Width, c.Height = m.Width, m.Height
			}
			a.submit(archiveJob{chunk: &c})
		}
		mm := m
		a.submit(archiveJob{end: &mm})
		a.publishRecording(m.ID)
	}
	return err
}

// archivedInFull reports whether storage has the final playlists of all n chunks of a recording
// (a recording continued after a reconnect has more chunks than its first finalization).
func (a *Archive) archivedInFull(ctx context.Context, id string, n int) bool {
	if ok, _ := a.exists(ctx, transcode.MasterKey(id)); !ok {
		return false
	}
	rc, err := a.store.Get(ctx, transcode.EndKey(id))
	if err != nil {
		return false
	}
	defer rc.Close()
	var end transcode.End
	if json.NewDecoder(rc).Decode(&end) != nil || end.Chunks != n {
		return false
	}
	ok, _ := a.exists(ctx, transcode.ChunkDoneKey(id, n-1))
	return ok || n == 0
}

func (a *Archive) exists(ctx context.Context, key string) (bool, error) {
	rc, err := a.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = rc.Close()
	return true, nil
}
