package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload is a direct upload that was started and not completed yet. Rows live until the upload
// is completed or, once expired, cleaned (its parts removed from storage).
type Upload struct {
	ID          string // also the id of the recording it becomes
	Room        string
	Title       string
	Seller      string
	Filename    string
	ContentType string
	Size        int64
	PartSize    int64
	Key         string // storage key of the assembled source file
	MultipartID string // S3 multipart upload id ("" for one PUT or local storage)
	State       UploadState
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// UploadState of a pending upload.
type UploadState string

// Upload states: parts are being sent, or complete is running (claimed, so the cleaner leaves it).
const (
	UploadPending    UploadState = "pending"
	UploadCompleting UploadState = "completing"
)

// Parts is the number of parts of the upload.
func (u Upload) Parts() int {
	if u.Size <= 0 || u.PartSize <= 0 {
		return 1
	}
	return int((u.Size + u.PartSize - 1) / u.PartSize)
}

// PartLen is the length of part n (1-based).
func (u Upload) PartLen(n int) int64 {
	if n < u.Parts() {
		return u.PartSize
	}
	return u.Size - int64(u.Parts()-1)*u.PartSize
}

const uploadCols = `id, room, title, seller, filename, content_type, size, part_size, key, multipart_id, state, created_at, expires_at`

func scanUpload(row interface{ Scan(...any) error }) (Upload, error) {
	var u Upload
	var created, expires int64
	err := row.Scan(&u.ID, &u.Room, &u.Title, &u.Seller, &u.Filename, &u.ContentType, &u.Size, &u.PartSize, &u.Key,
		&u.MultipartID, &u.State, &created, &expires)
	u.CreatedAt, u.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	return u, err
}

// PutUpload records a new pending upload.
func (s *SQLite) PutUpload(ctx context.Context, u Upload) error {
	if u.State == "" {
		u.State = UploadPending
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO uploads (`+uploadCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		u.ID, u.Room, u.Title, u.Seller, u.Filename, u.ContentType, u.Size, u.PartSize, u.Key, u.MultipartID,
		string(u.State), u.CreatedAt.UnixMilli(), u.ExpiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("catalog: put upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload returns a pending upload or ErrNotFound.
func (s *SQLite) GetUpload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(s.db.QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	if err != nil {
		return u, fmt.Errorf("catalog: get upload %s: %w", id, err)
	}
	return u, nil
}

// SetUploadState moves an upload from state from to state to; it reports false when the upload
// was not in state from (another request or the cleaner got there first).
func (s *SQLite) SetUploadState(ctx context.Context, id string, from, to UploadState) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE uploads SET state = ? WHERE id = ? AND state = ?`, string(to), id, string(from))
	if err != nil {
		return false, fmt.Errorf("catalog: upload %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteUpload removes an upload's row (not an error when it is gone already).
func (s *SQLite) DeleteUpload(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return fmt.Errorf("catalog: delete upload %s: %w", id, err)
	}
	return nil
}

// ExpiredUploads lists uploads that expired before now: pending ones, and ones stuck completing
// for longer than grace (a server died during complete).
func (s *SQLite) ExpiredUploads(ctx context.Context, now time.Time, grace time.Duration) ([]Upload, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE (state = ? AND expires_at < ?) OR expires_at < ?`,
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
