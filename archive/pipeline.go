package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/events"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// What the other components (uploads, httpapi, server) use of the archive.

// Catalog is the recordings database (SQLite, or PostgreSQL with --catalog-url).
func (a *Archive) Catalog() catalog.Store { return a.cat }

// Store is the VOD storage (local directory or S3).
func (a *Archive) Store() storage.Storage { return a.store }

// Local is the local VOD directory, nil with S3.
func (a *Archive) Local() *storage.Local { return a.local }

// RedisOpt is the queue's Redis (the in-process one without --redis-url).
func (a *Archive) RedisOpt() asynq.RedisConnOpt { return a.redisOpt }

// Queue enqueues transcode tasks.
func (a *Archive) Queue() *transcode.Client { return a.queue }

// Events is the bus of the recording events sent to SSE clients (GET /api/events).
func (a *Archive) Events() *events.Bus { return a.events }

// IsLive reports whether recording id is being recorded now.
func (a *Archive) IsLive(id string) bool { return a.rec.Live()[id] }

// Publish sends an event of type typ about recording id to the SSE clients of every node.
func (a *Archive) Publish(typ, id string, data any) { a.publish(typ, id, data) }

// PublishRecording publishes the catalog's current state of recording id.
func (a *Archive) PublishRecording(id string) { a.publishRecording(id) }

// SetFailed marks recording id failed with msg (shown to users) and publishes it.
func (a *Archive) SetFailed(id, msg string) { a.setFailed(id, msg) }

// Exists reports whether storage holds key.
func (a *Archive) Exists(ctx context.Context, key string) (bool, error) { return a.exists(ctx, key) }

// EnqueueFinalize enqueues the job that writes a recording's final playlists from its chunks.
func (a *Archive) EnqueueFinalize(ctx context.Context, id string, chunks int) error {
	return a.queue.EnqueueFinalize(ctx, id, chunks)
}

// EnqueueFile enqueues the transcode of a stored source file (a failure marks it failed).
func (a *Archive) EnqueueFile(ctx context.Context, id, key string) error {
	a.mu.Lock()
	a.prog(id).total = 1 // one "chunk": progress events carry the overall percentage
	a.mu.Unlock()
	if err := a.queue.EnqueueFile(ctx, transcode.FilePayload{RecordingID: id, Key: key}); err != nil {
		a.setFailed(id, "queue: "+err.Error())
		return fmt.Errorf("cannot queue the transcode: %w", err)
	}
	return nil
}

// Delete removes a recording that is not live: its files in storage, its raw files on disk and
// its catalog entry (ErrLive, ErrStorage), and tells the SSE clients.
func (a *Archive) Delete(ctx context.Context, rec catalog.Recording) error {
	id := rec.ID
	if a.rec.Live()[id] {
		return ErrLive
	}
	for _, prefix := range []string{"rec/" + id + "/", "raw/" + id + "/"} {
		if err := a.store.DeletePrefix(ctx, prefix); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(a.rec.Dir(), filepath.Base(id))); err != nil {
		return err
	}
	if err := a.deleteShow(ctx, rec); err != nil { // show.go
		return err
	}
	if err := a.cat.Delete(ctx, id); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	a.publish("deleted", id, map[string]string{"id": id, "room": rec.Room})
	return nil
}
