package catalog

import (
	"context"
	"encoding/json"
	"time"
)

// Store is the catalog whichever database holds it: *SQLite (the embedded default) or
// *Postgres (--catalog-url, shared by every node and worker of a cluster). Both behave the
// same; the catalog tests run against each. Consumers that need less declare their own
// smaller interface.
type Store interface {
	// Recordings (catalog.go).
	Put(ctx context.Context, r Recording) error
	Get(ctx context.Context, id string) (Recording, error)
	Update(ctx context.Context, id string, fn func(*Recording) error) (Recording, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context, p ListParams) (Page, error)

	// The show beside a recording (show.go).
	SaveLiveEvents(ctx context.Context, room string, evs []LiveEvent) error
	LiveEvents(ctx context.Context, room string, fromMs, toMs int64) ([]LiveEvent, error)
	LiveEventsPage(ctx context.Context, room string, fromMs, toMs, afterSeq int64, limit int) ([]LiveEvent, error)
	LastSeqs(ctx context.Context) (map[string]int64, error)
	SaveLot(ctx context.Context, l Lot, bids []json.RawMessage) error
	GetLot(ctx context.Context, room, id string) (Lot, error)
	LotsBetween(ctx context.Context, room string, fromMs, toMs int64) ([]Lot, error)
	LotBids(ctx context.Context, room, lotID string) ([]json.RawMessage, error)
	BidEvents(ctx context.Context, room, lotID string) ([]json.RawMessage, error)
	SavePart(ctx context.Context, recordingID string, n int, p Part) error
	Parts(ctx context.Context, recordingID string) ([]Part, error)
	DeleteShow(ctx context.Context, recordingID, room string, fromMs, toMs int64) error

	// Pending uploads (uploads.go).
	PutUpload(ctx context.Context, u Upload) error
	GetUpload(ctx context.Context, id string) (Upload, error)
	SetUploadState(ctx context.Context, id string, from, to UploadState) (bool, error)
	DeleteUpload(ctx context.Context, id string) error
	ExpiredUploads(ctx context.Context, now time.Time, grace time.Duration) ([]Upload, error)

	Close() error
}

var (
	_ Store = (*SQLite)(nil)
	_ Store = (*Postgres)(nil)
)
