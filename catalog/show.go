package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// The show beside a recording: the room's events (chat, lots, bids) as the live room sequenced
// them, the lots with their bid logs, and the parts of a recording's timeline (a broadcast
// continued after a reconnect leaves the pause out of the video). The archiver (package
// archive) fills these tables from the room event stream; the recordings API reads them as
// chapters and a replayable event list.

// LiveEvent is one archived room event (the live/stream Event): the room's sequence number,
// the server time in ms, its kind and its data (JSON).
type LiveEvent struct {
	Room string          `json:"room"`
	Seq  int64           `json:"seq"`
	At   int64           `json:"at"` // server time, ms since the Unix epoch
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// Lot is one lot of a room as it was last seen: its summary columns and the lot JSON itself.
type Lot struct {
	Room       string          `json:"room"`
	ID         string          `json:"id"`
	Seq        int64           `json:"seq"` // the room event that carried this state
	Title      string          `json:"title"`
	Status     string          `json:"status"`
	Price      int64           `json:"price"` // minor units
	Winner     string          `json:"winner,omitempty"`
	WinnerName string          `json:"winner_name,omitempty"`
	StartedAt  int64           `json:"started_at"` // ms, 0 when it never opened
	EndedAt    int64           `json:"ended_at"`   // ms, 0 until it ended
	Data       json.RawMessage `json:"data"`       // the lot JSON (K3 Lot)
}

// Part is one stretch of a recording's timeline: media recorded from wall time WallMs on lies
// at Start seconds of the recording (the first part starts at 0; a part continued after a
// reconnect starts where the previous one ended).
type Part struct {
	WallMs int64   `json:"wall_ms"`
	Start  float64 `json:"start"`
}

// The event kinds the archive keeps. A chat.deleted event (data {"id": the seq of the chat
// event}) blanks the message it names: the archive never returns it again.
const (
	KindChat        = "chat"
	KindChatDeleted = "chat.deleted"
	KindLot         = "lot"
	KindBid         = "bid"
)

// SaveLiveEvents stores events of room (INSERT OR IGNORE on (room, seq): saving an event twice,
// e.g. live and again from a catch-up read of the log, keeps one row). A chat.deleted event
// blanks the chat message it names, whether that message was stored before it or comes later.
func (s *SQLite) SaveLiveEvents(ctx context.Context, room string, evs []LiveEvent) error {
	if len(evs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: save live events: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO live_events (room, seq, at_ms, kind, data, ref) VALUES (?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("catalog: save live events: %w", err)
	}
	defer ins.Close()
	var deletes, chats []int64
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
		if _, err := ins.ExecContext(ctx, room, e.Seq, e.At, e.Kind, string(data), ref); err != nil {
			return fmt.Errorf("catalog: save live event %s/%d: %w", room, e.Seq, err)
		}
	}
	// Deleted messages keep only their id: moderation removed the text from the history.
	const blank = `UPDATE live_events SET deleted = 1, data = json_object('id', seq) WHERE room = ? AND seq = ? AND kind = 'chat' AND deleted = 0`
	for _, id := range deletes {
		if _, err := tx.ExecContext(ctx, blank, room, id); err != nil {
			return fmt.Errorf("catalog: delete chat %s/%d: %w", room, id, err)
		}
	}
	for _, seq := range chats {
		if _, err := tx.ExecContext(ctx, blank+` AND EXISTS (SELECT 1 FROM live_events WHERE room = ? AND kind = 'chat.deleted' AND ref = ?)`,
			room, seq, room, seq); err != nil {
			return fmt.Errorf("catalog: delete chat %s/%d: %w", room, seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: save live events: %w", err)
	}
	return nil
}

// LiveEvents returns the chat, bid and lot events of room with fromMs <= at <= toMs, in
// sequence order, without deleted chat messages (nor the chat.deleted events themselves).
func (s *SQLite) LiveEvents(ctx context.Context, room string, fromMs, toMs int64) ([]LiveEvent, error) {
	return s.LiveEventsPage(ctx, room, fromMs, toMs, 0, 0)
}

// LiveEventsPage is LiveEvents from the event after seq afterSeq on, at most limit of them
// (0: no limit).
func (s *SQLite) LiveEventsPage(ctx context.Context, room string, fromMs, toMs, afterSeq int64, limit int) ([]LiveEvent, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at_ms, kind, data FROM live_events
		WHERE room = ? AND at_ms >= ? AND at_ms <= ? AND seq > ? AND deleted = 0 AND kind IN ('chat', 'bid', 'lot')
		ORDER BY seq LIMIT ?`, room, fromMs, toMs, afterSeq, limit)
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
func (s *SQLite) LastSeqs(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room, MAX(seq) FROM live_events GROUP BY room`)
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

// SaveLot stores the state of a lot (kept only when l.Seq is newer than the stored one: a
// catch-up read never rolls a lot back) and appends its bid log (each bid JSON carries its
// 1-based position "n"; a bid without one takes its index + 1). INSERT OR IGNORE on (room,
// lot_id, n): the log is append-only.
func (s *SQLite) SaveLot(ctx context.Context, l Lot, bids []json.RawMessage) error {
	if l.Room == "" || l.ID == "" {
		return fmt.Errorf("catalog: save lot: room and id are required")
	}
	data := l.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: save lot %s: %w", l.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `INSERT INTO lots (room, id, seq, title, status, price, winner, winner_name, started_at, ended_at, lot)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (room, id) DO UPDATE SET seq = excluded.seq, title = excluded.title, status = excluded.status,
			price = excluded.price, winner = excluded.winner, winner_name = excluded.winner_name,
			started_at = excluded.started_at, ended_at = excluded.ended_at, lot = excluded.lot
		WHERE excluded.seq >= lots.seq`,
		l.Room, l.ID, l.Seq, l.Title, l.Status, l.Price, l.Winner, l.WinnerName, l.StartedAt, l.EndedAt, string(data))
	if err != nil {
		return fmt.Errorf("catalog: save lot %s: %w", l.ID, err)
	}
	for i, b := range bids {
		var head struct {
			N int64 `json:"n"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return fmt.Errorf("catalog: save lot %s: bid %d is not JSON: %w", l.ID, i+1, err)
		}
		if head.N <= 0 {
			head.N = int64(i + 1)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO bids (room, lot_id, n, bid) VALUES (?,?,?,?)`,
			l.Room, l.ID, head.N, string(b)); err != nil {
			return fmt.Errorf("catalog: save lot %s: %w", l.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: save lot %s: %w", l.ID, err)
	}
	return nil
}

const lotCols = `room, id, seq, title, status, price, winner, winner_name, started_at, ended_at, lot`

func scanLot(row interface{ Scan(...any) error }) (Lot, error) {
	var l Lot
	var data string
	err := row.Scan(&l.Room, &l.ID, &l.Seq, &l.Title, &l.Status, &l.Price, &l.Winner, &l.WinnerName, &l.StartedAt, &l.EndedAt, &data)
	l.Data = json.RawMessage(data)
	return l, err
}

// GetLot returns one stored lot, or ErrNotFound.
func (s *SQLite) GetLot(ctx context.Context, room, id string) (Lot, error) {
	l, err := scanLot(s.db.QueryRowContext(ctx, `SELECT `+lotCols+` FROM lots WHERE room = ? AND id = ?`, room, id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("%w: lot %s", ErrNotFound, id)
	}
	if err != nil {
		return l, fmt.Errorf("catalog: lot %s: %w", id, err)
	}
	return l, nil
}

// LotsBetween returns the lots of room that were open at some moment of [fromMs, toMs]
// (started at or before toMs, not ended before fromMs; lots that never opened are left out),
// by start time.
func (s *SQLite) LotsBetween(ctx context.Context, room string, fromMs, toMs int64) ([]Lot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+lotCols+` FROM lots
		WHERE room = ? AND started_at > 0 AND started_at <= ? AND (ended_at = 0 OR ended_at >= ?)
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
func (s *SQLite) LotBids(ctx context.Context, room, lotID string) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bid FROM bids WHERE room = ? AND lot_id = ? ORDER BY n`, room, lotID)
	if err != nil {
		return nil, fmt.Errorf("catalog: bids of %s: %w", lotID, err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("catalog: bids of %s: %w", lotID, err)
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

// SavePart records part n of a recording's timeline (INSERT OR IGNORE: a part once recorded
// stays as first seen).
func (s *SQLite) SavePart(ctx context.Context, recordingID string, n int, p Part) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO recording_parts (recording_id, n, wall_ms, start) VALUES (?,?,?,?)`,
		recordingID, n, p.WallMs, p.Start); err != nil {
		return fmt.Errorf("catalog: part %s/%d: %w", recordingID, n, err)
	}
	return nil
}

// Parts returns the parts of a recording's timeline by wall time (empty for recordings made
// before parts were kept, uploads and imports: their timeline is one part from started_at).
func (s *SQLite) Parts(ctx context.Context, recordingID string) ([]Part, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT wall_ms, start FROM recording_parts WHERE recording_id = ? ORDER BY n`, recordingID)
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

// Timeline maps the server time of a room event to seconds into a recording.
type Timeline struct {
	parts    []Part
	duration float64 // 0: unknown (still recording)
}

// NewTimeline is the timeline of r from its parts (none: one part from r.StartedAt).
func NewTimeline(r Recording, parts []Part) Timeline {
	ps := append([]Part(nil), parts...)
	if len(ps) == 0 || ps[0].WallMs > r.StartedAt.UnixMilli() {
		ps = append([]Part{{WallMs: r.StartedAt.UnixMilli(), Start: 0}}, ps...)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].WallMs < ps[j].WallMs })
	return Timeline{parts: ps, duration: r.Duration}
}

// At returns the seconds into the recording of server time ms: within the part recorded at
// that moment; a moment in a pause between parts (the publisher reconnecting) falls at the
// start of the next part, where the video resumes; clamped to [0, duration].
func (t Timeline) At(ms int64) float64 {
	i := sort.Search(len(t.parts), func(i int) bool { return t.parts[i].WallMs > ms }) - 1
	var s float64
	if i < 0 {
		s = 0
	} else {
		p := t.parts[i]
		s = p.Start + float64(ms-p.WallMs)/1000
		if i+1 < len(t.parts) && s > t.parts[i+1].Start {
			s = t.parts[i+1].Start // in the pause before the next part
		}
	}
	if t.duration > 0 && s > t.duration {
		s = t.duration
	}
	return max(0, s)
}

// BidEvents returns the bids (the "bid" object of each `bid` event) archived for a lot, in
// sequence order: the accepted part of its bid log, when the full log cannot be read.
func (s *SQLite) BidEvents(ctx context.Context, room, lotID string) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT json_extract(data, '$.bid') FROM live_events
		WHERE room = ? AND kind = 'bid' AND json_extract(data, '$.lot_id') = ? AND json_type(data, '$.bid') = 'object' ORDER BY seq`, room, lotID)
	if err != nil {
		return nil, fmt.Errorf("catalog: bid events of %s: %w", lotID, err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("catalog: bid events of %s: %w", lotID, err)
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

// DeleteShow removes what the archive kept of a recording's show: the room's events during
// [fromMs, toMs], the lots that opened and ended inside it with their bid logs, and the
// recording's timeline parts. A lot that was open across either end stays (another recording,
// or the room's history before it, shows it too).
func (s *SQLite) DeleteShow(ctx context.Context, recordingID, room string, fromMs, toMs int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: delete show %s: %w", recordingID, err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM live_events WHERE room = ? AND at_ms >= ? AND at_ms <= ?`, []any{room, fromMs, toMs}},
		{`DELETE FROM bids WHERE room = ? AND lot_id IN (SELECT id FROM lots WHERE room = ? AND started_at >= ? AND ended_at > 0 AND ended_at <= ?)`,
			[]any{room, room, fromMs, toMs}},
		{`DELETE FROM lots WHERE room = ? AND started_at >= ? AND ended_at > 0 AND ended_at <= ?`, []any{room, fromMs, toMs}},
		{`DELETE FROM recording_parts WHERE recording_id = ?`, []any{recordingID}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("catalog: delete show %s: %w", recordingID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: delete show %s: %w", recordingID, err)
	}
	return nil
}
