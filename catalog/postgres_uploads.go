package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pending uploads on PostgreSQL (see uploads.go).

// PutUpload records a new pending upload (an id already used is an error).
func (s *Postgres) PutUpload(ctx context.Context, u Upload) error {
	if u.State == "" {
		u.State = UploadPending
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO uploads (`+uploadCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		u.ID, u.Room, u.Title, u.Seller, u.Filename, u.ContentType, u.Size, u.PartSize, u.Key, u.MultipartID,
		string(u.State), u.CreatedAt.UnixMilli(), u.ExpiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("catalog: put upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload returns a pending upload or ErrNotFound.
func (s *Postgres) GetUpload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(s.pool.QueryRow(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	if err != nil {
		return u, fmt.Errorf("catalog: get upload %s: %w", id, err)
	}
	return u, nil
}

// SetUploadState moves an upload from state from to state to; it reports false when the upload
// was not in state from (another request, node or the cleaner got there first).
func (s *Postgres) SetUploadState(ctx context.Context, id string, from, to UploadState) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE uploads SET state = $1 WHERE id = $2 AND state = $3`, string(to), id, string(from))
	if err != nil {
		return false, fmt.Errorf("catalog: upload %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteUpload removes an upload's row (not an error when it is gone already).
func (s *Postgres) DeleteUpload(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, id); err != nil {
		return fmt.Errorf("catalog: delete upload %s: %w", id, err)
	}
	return nil
}

// ExpiredUploads lists uploads that expired before now: pending ones, and ones stuck completing
// for longer than grace (a server died during complete).
func (s *Postgres) ExpiredUploads(ctx context.Context, now time.Time, grace time.Duration) ([]Upload, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+uploadCols+` FROM uploads WHERE (state = $1 AND expires_at < $2) OR expires_at < $3`,
		string(UploadPending), now.UnixMilli(), now.Add(-grace).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("catalog: expired uploads: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: expired uploads: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
