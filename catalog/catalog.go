// Package catalog lists recordings and their archive status, pending uploads and the show
// beside each recording. SQLite (pure Go, modernc.org/sqlite) is the default store; PostgreSQL
// (postgres.go, pgx) is the store a cluster's nodes share. Both have the method set of Store
// and versioned schemas (migrate.go); callers depend on Store or on smaller interfaces they
// declare.
package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Status of a recording.
type Status string

// Recording statuses, in order of a normal life.
const (
	StatusRecording  Status = "recording"
	StatusProcessing Status = "processing"
	StatusReady      Status = "ready"
	StatusFailed     Status = "failed"
)

// Source of a recording.
const (
	SourceLive   = "live"   // recorded from a broadcast
	SourceUpload = "upload" // a file uploaded by a seller
	SourceImport = "import" // fetched from a URL by an admin
)

// Subtitle is one WebVTT track of a recording.
type Subtitle struct {
	Lang  string `json:"lang"`
	Label string `json:"label"`
	URL   string `json:"url"`
}

// Recording is one broadcast in the archive.
type Recording struct {
	ID          string     `json:"id"`
	Room        string     `json:"room"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Seller      string     `json:"seller"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	Duration    float64    `json:"duration"` // seconds
	Status      Status     `json:"status"`
	Progress    float64    `json:"progress"` // 0..100 while processing
	Renditions  []string   `json:"renditions"`
	HLSURL      string     `json:"hls_url,omitempty"`
	PosterURL   string     `json:"poster_url,omitempty"`
	// Error is one short human sentence: why a recording failed, or what a ready one lacks
	// ("The audio track could not be decoded and was dropped."). Never tool output.
	Error string `json:"error,omitempty"`
	// Log is the tool output behind Error, for operators: de-duplicated, at most 4 KiB. Only
	// admin responses carry it (Public clears it).
	Log string `json:"log,omitempty"`
	// Tracks says what the recording holds: one entry per recorded track, dropped ones with
	// their reason. Empty until the recording is processed.
	Tracks []Track `json:"tracks"`
	// Retryable is false when a retry cannot help (not a video, nothing decodable).
	Retryable bool       `json:"retryable"`
	Source    string     `json:"source"`    // SourceLive, SourceUpload or SourceImport
	Subtitles []Subtitle `json:"subtitles"` // never nil in JSON
	UpdatedAt time.Time  `json:"updated_at"`
}

// Track is one media track of a recording.
type Track struct {
	Kind    string `json:"kind"`  // "video" or "audio"
	Codec   string `json:"codec"` // "vp8", "vp9", "av1", "h264", "opus", … (lower case)
	Dropped bool   `json:"dropped,omitempty"`
	Reason  string `json:"reason,omitempty"` // why it was dropped, or what of it was lost
}

// Public is the recording as anyone may see it: without the operator log.
func (r Recording) Public() Recording {
	r.Log = ""
	return r
}

// SQLite is the catalog in one SQLite file.
type SQLite struct {
	db  *sql.DB
	log *slog.Logger
}

// Params configures Open.
type Params struct {
	Path   string // database file; ":memory:" for tests
	Logger *slog.Logger
}

// legacyColumns are the columns that versions before the versioned schema added to an existing
// database (ALTER TABLE ADD COLUMN with a default keeps every row valid). A data dir of such a
// version gets them before its first migration (migrations/sqlite), so it opens and keeps its
// rows.
var legacyColumns = []struct{ column, ddl string }{
	{"source", `ALTER TABLE recordings ADD COLUMN source TEXT NOT NULL DEFAULT 'live'`},
	{"subtitles", `ALTER TABLE recordings ADD COLUMN subtitles TEXT NOT NULL DEFAULT '[]'`},
	{"log", `ALTER TABLE recordings ADD COLUMN log TEXT NOT NULL DEFAULT ''`},
	{"tracks", `ALTER TABLE recordings ADD COLUMN tracks TEXT NOT NULL DEFAULT '[]'`},
	{"retryable", `ALTER TABLE recordings ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0`},
}

// upgradeLegacy adds the legacy columns a database of a version before the versioned schema
// lacks (none for a new database, nor for one goose migrated already).
func upgradeLegacy(db *sql.DB) error {
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recordings'`).Scan(&tables); err != nil {
		return err
	}
	var versioned int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, MigrationsTable).Scan(&versioned); err != nil {
		return err
	}
	if tables == 0 || versioned == 1 {
		return nil
	}
	rows, err := db.Query(`SELECT name FROM pragma_table_info('recordings')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return err
		}
		have[name] = true
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range legacyColumns {
		if have[m.column] {
			continue
		}
		if _, err := db.Exec(m.ddl); err != nil {
			return fmt.Errorf("add column %s: %w", m.column, err)
		}
	}
	return nil
}

// Open opens (creating if needed) the database and brings its schema to the latest version.
func Open(p Params) (*SQLite, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	log := p.Logger.With("component", "catalog")
	// _txlock=immediate: a transaction takes the write lock when it begins, so a read-then-write
	// (Update) waits for another handle on the same file (another node, or `relaycast worker`)
	// instead of failing with SQLITE_BUSY_SNAPSHOT when that handle wrote in between.
	dsn := "file:" + p.Path + "?_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", p.Path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if err := upgradeLegacy(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("catalog: upgrade %s: %w", p.Path, err)
	}
	if err := migrate(context.Background(), db, goose.DialectSQLite3, "sqlite", log); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("catalog: migrate %s: %w", p.Path, err)
	}
	return &SQLite{db: db, log: log}, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

const cols = `id, room, title, description, seller, started_at, ended_at, duration, status, progress, renditions, hls_url, poster_url, error, updated_at, source, subtitles, log, tracks, retryable`

func scan(row interface{ Scan(...any) error }) (Recording, error) {
	var r Recording
	var started, updated int64
	var ended sql.NullInt64
	var rend, subs, tracks string
	err := row.Scan(&r.ID, &r.Room, &r.Title, &r.Description, &r.Seller, &started, &ended, &r.Duration,
		&r.Status, &r.Progress, &rend, &r.HLSURL, &r.PosterURL, &r.Error, &updated, &r.Source, &subs,
		&r.Log, &tracks, &r.Retryable)
	if err != nil {
		return r, err
	}
	r.StartedAt = time.UnixMilli(started).UTC()
	r.UpdatedAt = time.UnixMilli(updated).UTC()
	if ended.Valid {
		t := time.UnixMilli(ended.Int64).UTC()
		r.EndedAt = &t
	}
	_ = json.Unmarshal([]byte(rend), &r.Renditions)
	if r.Renditions == nil {
		r.Renditions = []string{}
	}
	_ = json.Unmarshal([]byte(subs), &r.Subtitles)
	if r.Subtitles == nil {
		r.Subtitles = []Subtitle{}
	}
	_ = json.Unmarshal([]byte(tracks), &r.Tracks)
	if r.Tracks == nil {
		r.Tracks = []Track{}
	}
	return r, nil
}

// lists encodes the JSON columns, filling in the defaults.
func (r *Recording) lists() (rend, subs, tracks string) {
	if r.Renditions == nil {
		r.Renditions = []string{}
	}
	if r.Subtitles == nil {
		r.Subtitles = []Subtitle{}
	}
	if r.Source == "" {
		r.Source = SourceLive
	}
	if r.Tracks == nil {
		r.Tracks = []Track{}
	}
	b, _ := json.Marshal(r.Renditions)
	c, _ := json.Marshal(r.Subtitles)
	d, _ := json.Marshal(r.Tracks)
	return string(b), string(c), string(d)
}

// Put inserts or replaces a recording.
func (s *SQLite) Put(ctx context.Context, r Recording) error {
	rend, subs, tracks := r.lists()
	var ended any
	if r.EndedAt != nil {
		ended = r.EndedAt.UnixMilli()
	}
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO recordings (`+cols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Room, r.Title, r.Description, r.Seller, r.StartedAt.UnixMilli(), ended, r.Duration, string(r.Status),
		r.Progress, rend, r.HLSURL, r.PosterURL, r.Error, time.Now().UnixMilli(), r.Source, subs, r.Log, tracks, r.Retryable)
	if err != nil {
		return fmt.Errorf("catalog: put %s: %w", r.ID, err)
	}
	return nil
}

// Get returns one recording or ErrNotFound.
func (s *SQLite) Get(ctx context.Context, id string) (Recording, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+cols+` FROM recordings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("catalog: get %s: %w", id, err)
	}
	return r, nil
}

// Update reads a recording, applies fn and writes it back in one transaction. fn returning an
// error aborts the update.
func (s *SQLite) Update(ctx context.Context, id string, fn func(*Recording) error) (Recording, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Recording{}, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	r, err := scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM recordings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	if err := fn(&r); err != nil {
		return r, err
	}
	rend, subs, tracks := r.lists()
	var ended any
	if r.EndedAt != nil {
		ended = r.EndedAt.UnixMilli()
	}
	_, err = tx.ExecContext(ctx, `UPDATE recordings SET title=?, description=?, seller=?, ended_at=?, duration=?, status=?,
		progress=?, renditions=?, hls_url=?, poster_url=?, error=?, updated_at=?, source=?, subtitles=?, log=?, tracks=?,
		retryable=? WHERE id=?`,
		r.Title, r.Description, r.Seller, ended, r.Duration, string(r.Status), r.Progress, rend,
		r.HLSURL, r.PosterURL, r.Error, time.Now().UnixMilli(), r.Source, subs, r.Log, tracks, r.Retryable, id)
	if err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	return r, nil
}

// Delete removes a recording (ErrNotFound when absent).
func (s *SQLite) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM recordings WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("catalog: delete %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// ListParams pages through recordings, newest first.
type ListParams struct {
	Limit  int    // default 20, at most 100
	Cursor string // the NextCursor of the previous page
	Room   string // only this room, when set
	Status Status // only this status, when set
	Query  string // only titles containing this text (case-insensitive), when set
}

// Page is one page of List.
type Page struct {
	Recordings []Recording `json:"recordings"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// List returns recordings newest first (keyset pagination on started_at, id).
func (s *SQLite) List(ctx context.Context, p ListParams) (Page, error) {
	if p.Limit <= 0 {
		p.Limit = 20
	}
	if p.Limit > 100 {
		p.Limit = 100
	}
	q := `SELECT ` + cols + ` FROM recordings WHERE 1=1`
	var args []any
	if p.Cursor != "" {
		var ms int64
		var id string
		if _, err := fmt.Sscanf(p.Cursor, "%d:%s", &ms, &id); err != nil {
			return Page{}, fmt.Errorf("catalog: bad cursor %q", p.Cursor)
		}
		q += ` AND (started_at < ? OR (started_at = ? AND id < ?))`
		args = append(args, ms, ms, id)
	}
	if p.Room != "" {
		q += ` AND room = ?`
		args = append(args, p.Room)
	}
	if p.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(p.Status))
	}
	if p.Query != "" {
		// instr on lower(): a literal substring match (no LIKE wildcards to escape); lower()
		// folds ASCII, which covers the usual titles.
		q += ` AND instr(lower(title), lower(?)) > 0`
		args = append(args, p.Query)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, p.Limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("catalog: list: %w", err)
	}
	defer rows.Close()
	page := Page{Recordings: []Recording{}}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return Page{}, fmt.Errorf("catalog: list: %w", err)
		}
		page.Recordings = append(page.Recordings, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("catalog: list: %w", err)
	}
	if len(page.Recordings) > p.Limit {
		last := page.Recordings[p.Limit-1]
		page.Recordings = page.Recordings[:p.Limit]
		page.NextCursor = fmt.Sprintf("%d:%s", last.StartedAt.UnixMilli(), last.ID)
	}
	return page, nil
}
