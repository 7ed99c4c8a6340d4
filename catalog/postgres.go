package catalog

import (
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The PostgreSQL catalog: the same method set and behaviour as SQLite, for a cluster whose
// nodes and workers share one database. Its schema is versioned: the SQL files under
// migrations/pg, embedded in the binary, applied in order by goose on open (under an advisory
// lock, so nodes starting together migrate once). Times are kept as ms (BIGINT) and JSON as
// TEXT, as in SQLite, so both stores return the same bytes.

// Postgres is the catalog in a PostgreSQL database.
type Postgres struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

// PostgresParams configures OpenPostgres.
type PostgresParams struct {
	// URL is a postgres:// or postgresql:// connection URL (query parameters as libpq's,
	// e.g. sslmode; others, such as search_path, are set on each session).
	URL    string
	Logger *slog.Logger
	// MaxConns bounds the pool (default 10).
	MaxConns int32
	// ConnectTimeout bounds the first connection and the migration (default 30 s).
	ConnectTimeout time.Duration
}

// OpenPostgres connects to the database at p.URL and brings its schema to the latest version.
// Errors show the URL without its password.
func OpenPostgres(ctx context.Context, p PostgresParams) (*Postgres, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.MaxConns <= 0 {
		p.MaxConns = 10
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = 30 * time.Second
	}
	where := redact(p.URL)
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%w: %s is not a postgres:// URL", ErrBadURL, where)
	}
	cfg, err := pgxpool.ParseConfig(p.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadURL, where, redactErr(err, p.URL))
	}
	cfg.MaxConns = p.MaxConns
	ctx, cancel := context.WithTimeout(ctx, p.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %s", where, redactErr(err, p.URL))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", where, err)
	}
	s := &Postgres{pool: pool, log: p.Logger.With("component", "catalog", "store", "postgres")}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog: migrate %s: %w", where, err)
	}
	s.log.Info("catalog on PostgreSQL", "url", where)
	return s, nil
}

// migrate applies the pending migrations. The advisory lock is keyed by the database and
// schema, so nodes sharing a catalog take turns while catalogs in other schemas do not wait.
func (s *Postgres) migrate(ctx context.Context) error {
	var db, schema string
	if err := s.pool.QueryRow(ctx, `SELECT current_database(), COALESCE(current_schema(), '')`).Scan(&db, &schema); err != nil {
		return err
	}
	id := int64(crc64.Checksum([]byte("relaycast catalog "+db+"."+schema), crc64.MakeTable(crc64.ECMA)) >> 1)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	sqldb := stdlib.OpenDBFromPool(s.pool)
	defer sqldb.Close()
	return migrate(ctx, sqldb, goose.DialectPostgres, "pg", s.log, goose.WithSessionLocker(locker))
}

// Close closes the pool.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// redact is raw without its password.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		return raw[:i+3] + "xxxxx"
	}
	return "xxxxx"
}

// redactErr is err's text with the URL's password (if any) blanked out.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

const pgCols = `id, room, title, description, seller, started_at, ended_at, duration, status, progress, renditions, hls_url, poster_url, error, updated_at, source, subtitles, log, tracks, retryable`

// Put inserts or replaces a recording.
func (s *Postgres) Put(ctx context.Context, r Recording) error {
	rend, subs, tracks := r.lists()
	var ended *int64
	if r.EndedAt != nil {
		ms := r.EndedAt.UnixMilli()
		ended = &ms
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO recordings (`+pgCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
		ON CONFLICT (id) DO UPDATE SET room = excluded.room, title = excluded.title, description = excluded.description,
			seller = excluded.seller, started_at = excluded.started_at, ended_at = excluded.ended_at, duration = excluded.duration,
			status = excluded.status, progress = excluded.progress, renditions = excluded.renditions, hls_url = excluded.hls_url,
			poster_url = excluded.poster_url, error = excluded.error, updated_at = excluded.updated_at, source = excluded.source,
			subtitles = excluded.subtitles, log = excluded.log, tracks = excluded.tracks, retryable = excluded.retryable`,
		r.ID, r.Room, r.Title, r.Description, r.Seller, r.StartedAt.UnixMilli(), ended, r.Duration, string(r.Status),
		r.Progress, rend, r.HLSURL, r.PosterURL, r.Error, time.Now().UnixMilli(), r.Source, subs, r.Log, tracks, r.Retryable)
	if err != nil {
		return fmt.Errorf("catalog: put %s: %w", r.ID, err)
	}
	return nil
}

// Get returns one recording or ErrNotFound.
func (s *Postgres) Get(ctx context.Context, id string) (Recording, error) {
	r, err := scan(s.pool.QueryRow(ctx, `SELECT `+pgCols+` FROM recordings WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("catalog: get %s: %w", id, err)
	}
	return r, nil
}

// Update reads a recording, applies fn and writes it back in one transaction. The row is
// locked (SELECT … FOR UPDATE) from the read to the commit: two nodes updating one recording
// run one after the other, neither write lost. fn returning an error aborts the update.
func (s *Postgres) Update(ctx context.Context, id string, fn func(*Recording) error) (Recording, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Recording{}, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	r, err := scan(tx.QueryRow(ctx, `SELECT `+pgCols+` FROM recordings WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	if err := fn(&r); err != nil {
		return r, err
	}
	rend, subs, tracks := r.lists()
	var ended *int64
	if r.EndedAt != nil {
		ms := r.EndedAt.UnixMilli()
		ended = &ms
	}
	_, err = tx.Exec(ctx, `UPDATE recordings SET title=$1, description=$2, seller=$3, ended_at=$4, duration=$5, status=$6,
		progress=$7, renditions=$8, hls_url=$9, poster_url=$10, error=$11, updated_at=$12, source=$13, subtitles=$14, log=$15,
		tracks=$16, retryable=$17 WHERE id=$18`,
		r.Title, r.Description, r.Seller, ended, r.Duration, string(r.Status), r.Progress, rend,
		r.HLSURL, r.PosterURL, r.Error, time.Now().UnixMilli(), r.Source, subs, r.Log, tracks, r.Retryable, id)
	if err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return r, fmt.Errorf("catalog: update %s: %w", id, err)
	}
	return r, nil
}

// Delete removes a recording (ErrNotFound when absent).
func (s *Postgres) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recordings WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("catalog: delete %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// List returns recordings newest first (keyset pagination on started_at, id).
func (s *Postgres) List(ctx context.Context, p ListParams) (Page, error) {
	if p.Limit <= 0 {
		p.Limit = 20
	}
	if p.Limit > 100 {
		p.Limit = 100
	}
	q := `SELECT ` + pgCols + ` FROM recordings WHERE TRUE`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if p.Cursor != "" {
		var ms int64
		var id string
		if _, err := fmt.Sscanf(p.Cursor, "%d:%s", &ms, &id); err != nil {
			return Page{}, fmt.Errorf("catalog: bad cursor %q", p.Cursor)
		}
		q += ` AND (started_at, id) < (` + arg(ms) + `, ` + arg(id) + `)`
	}
	if p.Room != "" {
		q += ` AND room = ` + arg(p.Room)
	}
	if p.Status != "" {
		q += ` AND status = ` + arg(string(p.Status))
	}
	if p.Query != "" {
		// strpos on lower(): a literal substring match, as SQLite's instr (no LIKE wildcards).
		q += ` AND strpos(lower(title), lower(` + arg(p.Query) + `)) > 0`
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ` + arg(p.Limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
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
