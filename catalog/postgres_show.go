package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The show tables on PostgreSQL (see show.go for what they hold). Each write is one
// transaction sent as one batch; the idempotent inserts (ON CONFLICT DO NOTHING) let every
// node archive the same events without duplicates.

// blankChat empties a deleted chat message down to its id, as SQLite's json_object('id', seq).
const blankChat = `UPDATE live_events SET deleted = TRUE, data = '{"id":' || seq || '}'
	WHERE room = $1 AND seq = ANY($2::bigint[]) AND kind = 'chat' AND NOT deleted`

// SaveLiveEvents stores events of room (idempotent on (room, seq)). A chat.deleted event
// blanks the chat message it names, whether that message was stored before it or comes later.
func (s *Postgres) SaveLiveEvents(ctx context.Context, room string, evs []LiveEvent) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	deletes, chats := []int64{}, []int64{}
	for _, e := range evs {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		var ref int64
		switch e.Kind {
		case KindChatDeleted:
			var d struct {
				ID int64 `json:"id"`
			}
			_ = json.Unmarshal(data, &d)
			ref = d.ID
			deletes = append(deletes, ref)
		case KindChat:
			chats = append(chats, e.Seq)
		}
		b.Queue(`INSERT INTO live_events (room, seq, at_ms, kind, data, ref) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
			room, e.Seq, e.At, e.Kind, string(data), ref)
	}
	// Deleted messages keep only their id: moderation removed the text from the history.
	if len(deletes) > 0 {
		b.Queue(blankChat, room, deletes)
	}
	if len(chats) > 0 {
		b.Queue(blankChat+` AND EXISTS (SELECT 1 FROM live_events d WHERE d.room = $1 AND d.kind = 'chat.deleted' AND d.ref = live_events.seq)`,
			room, chats)
	}
	if err := s.batch(ctx, b); err != nil {
		return fmt.Errorf("catalog: save live events %s: %w", room, err)
	}
	return nil
}

// batch runs b in one transaction.
func (s *Postgres) batch(ctx context.Context, b *pgx.Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		for range b.Len() {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// LiveEvents returns the chat, bid and lot events of room with fromMs <= at <= toMs, in
// sequence order, without deleted chat messages (nor the chat.deleted events themselves).
func (s *Postgres) LiveEvents(ctx context.Context, room string, fromMs, toMs int64) ([]LiveEvent, error) {
	return s.LiveEventsPage(ctx, room, fromMs, toMs, 0, 0)
}

// LiveEventsPage is LiveEvents from the event after seq afterSeq on, at most limit of them
// (0: no limit).
func (s *Postgres) LiveEventsPage(ctx context.Context, room string, fromMs, toMs, afterSeq int64, limit int) ([]LiveEvent, error) {
	var lim *int64 // NULL: no limit
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, at_ms, kind, data FROM live_events
		WHERE room = $1 AND at_ms >= $2 AND at_ms <= $3 AND seq > $4 AND NOT deleted AND kind IN ('chat', 'bid', 'lot')
		ORDER BY seq LIMIT $5`, room, fromMs, toMs, afterSeq, lim)
	if err != nil {
		return nil, fmt.Errorf("catalog: live events %s: %w", room, err)
	}
	defer rows.Close()
	out := []LiveEvent{}
	for rows.Next() {
		e := LiveEvent{Room: room}
		var data string
		if err := rows.Scan(&e.Seq, &e.At, &e.Kind, &data); err != nil {
			return nil, fmt.Errorf("catalog: live events %s: %w", room, err)
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastSeqs returns, per room, the highest event sequence number stored.
func (s *Postgres) LastSeqs(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT room, MAX(seq) FROM live_events GROUP BY room`)
	if err != nil {
		return nil, fmt.Errorf("catalog: last seqs: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var room string
		var seq int64
		if err := rows.Scan(&room, &seq); err != nil {
			return nil, fmt.Errorf("catalog: last seqs: %w", err)
		}
		out[room] = seq
	}
	return out, rows.Err()
}

// SaveLot stores the state of a lot (kept only when l.Seq is newer than the stored one) and
// appends its bid log (append-only on (room, lot_id, n)); see SQLite.SaveLot.
func (s *Postgres) SaveLot(ctx context.Context, l Lot, bids []json.RawMessage) error {
	if l.Room == "" || l.ID == "" {
		return fmt.Errorf("catalog: save lot: room and id are required")
	}
	data := l.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO lots (room, id, seq, title, status, price, winner, winner_name, started_at, ended_at, lot)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
		ON CONFLICT (room, id) DO UPDATE SET seq = excluded.seq, title = excluded.title, status = excluded.status,
			price = excluded.price, winner = excluded.winner, winner_name = excluded.winner_name,
			started_at = excluded.started_at, ended_at = excluded.ended_at, lot = excluded.lot
		WHERE excluded.seq >= lots.seq`,
		l.Room, l.ID, l.Seq, l.Title, l.Status, l.Price, l.Winner, l.WinnerName, l.StartedAt, l.EndedAt, string(data))
	for i, bid := range bids {
		var head struct {
			N int64 `json:"n"`
		}
		if err := json.Unmarshal(bid, &head); err != nil {
			return fmt.Errorf("catalog: save lot %s: bid %d is not JSON: %w", l.ID, i+1, err)
		}
		if head.N <= 0 {
			head.N = int64(i + 1)
		}
		b.Queue(`INSERT INTO bids (room, lot_id, n, bid) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`, l.Room, l.ID, head.N, string(bid))
	}
	if err := s.batch(ctx, b); err != nil {
		return fmt.Errorf("catalog: save lot %s: %w", l.ID, err)
	}
	return nil
}

// GetLot returns one stored lot, or ErrNotFound.
func (s *Postgres) GetLot(ctx context.Context, room, id string) (Lot, error) {
	l, err := scanLot(s.pool.QueryRow(ctx, `SELECT `+lotCols+` FROM lots WHERE room = $1 AND id = $2`, room, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return l, fmt.Errorf("%w: lot %s", ErrNotFound, id)
	}
	if err != nil {
		return l, fmt.Errorf("catalog: lot %s: %w", id, err)
	}
	return l, nil
}

// LotsBetween returns the lots of room that were open at some moment of [fromMs, toMs], by
// start time (see SQLite.LotsBetween).
func (s *Postgres) LotsBetween(ctx context.Context, room string, fromMs, toMs int64) ([]Lot, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+lotCols+` FROM lots
		WHERE room = $1 AND started_at > 0 AND started_at <= $2 AND (ended_at = 0 OR ended_at >= $3)
		ORDER BY started_at, id`, room, toMs, fromMs)
	if err != nil {
		return nil, fmt.Errorf("catalog: lots %s: %w", room, err)
	}
	defer rows.Close()
	out := []Lot{}
	for rows.Next() {
		l, err := scanLot(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: lots %s: %w", room, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// LotBids returns the stored bid log of a lot, in order (empty when none is stored).
func (s *Postgres) LotBids(ctx context.Context, room, lotID string) ([]json.RawMessage, error) {
	return s.rawList(ctx, "bids of "+lotID, `SELECT bid FROM bids WHERE room = $1 AND lot_id = $2 ORDER BY n`, room, lotID)
}

// BidEvents returns the bids (the "bid" object of each `bid` event) archived for a lot, in
// sequence order. The json type (not jsonb) keeps each bid's text as it was written.
func (s *Postgres) BidEvents(ctx context.Context, room, lotID string) ([]json.RawMessage, error) {
	return s.rawList(ctx, "bid events of "+lotID, `SELECT (data::json -> 'bid')::text FROM live_events
		WHERE room = $1 AND kind = 'bid' AND data::json ->> 'lot_id' = $2 AND json_typeof(data::json -> 'bid') = 'object'
		ORDER BY seq`, room, lotID)
}

// rawList runs a query of one text column and returns its rows as JSON.
func (s *Postgres) rawList(ctx context.Context, what, q string, args ...any) ([]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", what, err)
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

// SavePart records part n of a recording's timeline (a part once recorded stays as first seen).
func (s *Postgres) SavePart(ctx context.Context, recordingID string, n int, p Part) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO recording_parts (recording_id, n, wall_ms, start) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
		recordingID, n, p.WallMs, p.Start); err != nil {
		return fmt.Errorf("catalog: part %s/%d: %w", recordingID, n, err)
	}
	return nil
}

// Parts returns the parts of a recording's timeline by wall time (see SQLite.Parts).
func (s *Postgres) Parts(ctx context.Context, recordingID string) ([]Part, error) {
	rows, err := s.pool.Query(ctx, `SELECT wall_ms, start FROM recording_parts WHERE recording_id = $1 ORDER BY n`, recordingID)
	if err != nil {
		return nil, fmt.Errorf("catalog: parts %s: %w", recordingID, err)
	}
	defer rows.Close()
	var out []Part
	for rows.Next() {
		var p Part
		if err := rows.Scan(&p.WallMs, &p.Start); err != nil {
			return nil, fmt.Errorf("catalog: parts %s: %w", recordingID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteShow removes what the archive kept of a recording's show (see SQLite.DeleteShow), in
// one transaction.
func (s *Postgres) DeleteShow(ctx context.Context, recordingID, room string, fromMs, toMs int64) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM live_events WHERE room = $1 AND at_ms >= $2 AND at_ms <= $3`, room, fromMs, toMs)
	b.Queue(`DELETE FROM bids WHERE room = $1 AND lot_id IN (SELECT id FROM lots WHERE room = $1 AND started_at >= $2 AND ended_at > 0 AND ended_at <= $3)`,
		room, fromMs, toMs)
	b.Queue(`DELETE FROM lots WHERE room = $1 AND started_at >= $2 AND ended_at > 0 AND ended_at <= $3`, room, fromMs, toMs)
	b.Queue(`DELETE FROM recording_parts WHERE recording_id = $1`, recordingID)
	if err := s.batch(ctx, b); err != nil {
		return fmt.Errorf("catalog: delete show %s: %w", recordingID, err)
	}
	return nil
}
