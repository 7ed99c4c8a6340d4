package archive

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/recorder"
)

// The show archiver: it keeps the catalog's show tables (catalog/show.go) filled from the room
// event stream, so a recording's chat, lots and bids can be replayed beside its video.

// EventLog is what the show archiver needs of the room event stream (a *stream.Log).
type EventLog interface {
	SubscribeAll() (<-chan stream.Event, func())
	After(ctx context.Context, room string, after int64, limit int) ([]stream.Event, error)
}

// BidLog reads a lot's full bid log (accepted and refused bids, as JSON), e.g. the auction
// engine's Bids behind a small adapter. Optional: without it (or when it fails) a lot's log is
// made of the accepted bids archived from its `bid` events.
type BidLog interface {
	Bids(ctx context.Context, room, id string) ([]json.RawMessage, error)
}

// ShowCatalog is what the show archiver needs of the catalog (a catalog.Store).
type ShowCatalog interface {
	LastSeqs(ctx context.Context) (map[string]int64, error)
	SaveLiveEvents(ctx context.Context, room string, evs []catalog.LiveEvent) error
	SaveLot(ctx context.Context, l catalog.Lot, bids []json.RawMessage) error
	BidEvents(ctx context.Context, room, lotID string) ([]json.RawMessage, error)
}

// ShowParams configures a Show.
type ShowParams struct {
	Log     EventLog
	Catalog ShowCatalog
	Bids    BidLog // optional
	Logger  *slog.Logger
	// LiveRooms lists the rooms being recorded now (optional; Archive.LiveRooms). They are
	// caught up on start and on every sweep even before they send an event.
	LiveRooms func() []string
	// FlushEvery and FlushSize bound how long and how many events wait before one insert
	// (defaults 250 ms and 200).
	FlushEvery time.Duration
	FlushSize  int
	// Sweep is how often the known rooms are read back from the kept log to fill what the live
	// feed missed (a Redis reconnect, a dropped subscription); default 10 s.
	Sweep time.Duration
}

// Show archives the events of every room: chat (deleted messages blanked), lots and bids.
type Show struct {
	p      ShowParams
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	seen    map[string]int64     // room → highest seq received or read back
	saved   map[string]int64     // room → highest seq stored
	active  map[string]time.Time // room → last event received
	pending []stream.Event
	fails   int
}

// archivedKinds are the event kinds the show keeps (reactions and the rest only advance the
// room's sequence).
var archivedKinds = map[string]bool{catalog.KindChat: true, catalog.KindChatDeleted: true, catalog.KindLot: true, catalog.KindBid: true}

const (
	afterPage  = 500              // events per read of the kept log
	maxPending = 20000            // events kept across failing inserts before they are dropped (read back later)
	activeFor  = 30 * time.Minute // a room is swept for this long after its last event
)

// NewShow starts archiving: it catches up the rooms the catalog knows and the rooms being
// recorded from the kept log, then follows every room's events. Close stops it.
func NewShow(p ShowParams) (*Show, error) {
	if p.Log == nil || p.Catalog == nil {
		return nil, errors.New("archive: show needs an event log and a catalog")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.FlushEvery <= 0 {
		p.FlushEvery = 250 * time.Millisecond
	}
	if p.FlushSize <= 0 {
		p.FlushSize = 200
	}
	if p.Sweep <= 0 {
		p.Sweep = 10 * time.Second
	}
	s := &Show{p: p, log: p.Logger.With("component", "show-archive"), seen: map[string]int64{}, saved: map[string]int64{},
		active: map[string]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	last, err := p.Catalog.LastSeqs(s.ctx)
	if err != nil {
		s.cancel()
		return nil, err
	}
	for room, seq := range last {
		s.seen[room], s.saved[room] = seq, seq
	}
	ch, unsub := p.Log.SubscribeAll() // before the catch-up: nothing falls between the two
	s.wg.Add(1)
	go s.run(ch, unsub, last)
	return s, nil
}

// Close flushes what is pending and stops.
func (s *Show) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Show) run(ch <-chan stream.Event, unsub func(), known map[string]int64) {
	defer s.wg.Done()
	defer func() { unsub() }()
	rooms := make([]string, 0, len(known))
	for room := range known {
		rooms = append(rooms, room)
	}
	s.catchUp(append(rooms, s.liveRooms()...))
	flush := time.NewTicker(s.p.FlushEvery)
	defer flush.Stop()
	sweep := time.NewTicker(s.p.Sweep)
	defer sweep.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.drain(ch)
			s.flush(context.Background())
			return
		case e, ok := <-ch:
			if !ok { // fell behind (or the log closed): subscribe again, then read back
				s.log.Warn("room event feed closed; subscribing again and reading back the kept log")
				unsub()
				ch, unsub = s.p.Log.SubscribeAll()
				s.flush(s.ctx)
				s.catchUp(s.sweepRooms())
				if s.ctx.Err() == nil {
					select {
					case <-s.ctx.Done():
					case <-time.After(100 * time.Millisecond): // a closed log must not spin
					}
				}
				continue
			}
			s.receive(e)
			if len(s.pending) >= s.p.FlushSize {
				s.flush(s.ctx)
			}
		case <-flush.C:
			s.flush(s.ctx)
		case <-sweep.C:
			s.flush(s.ctx)
			s.catchUp(s.sweepRooms())
		}
	}
}

// drain takes what the feed holds already (Close must not lose the last events).
func (s *Show) drain(ch <-chan stream.Event) {
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			s.receive(e)
		default:
			return
		}
	}
}

// receive queues a live event, first reading back what the feed skipped when its seq jumps.
func (s *Show) receive(e stream.Event) {
	if e.Room == "" {
		return
	}
	last := s.seen[e.Room]
	if e.Seq <= last {
		return // read back already (or a duplicate)
	}
	if e.Seq > last+1 {
		s.readBack(s.ctx, e.Room, e.Seq-1)
	}
	s.queue(e)
}

func (s *Show) queue(e stream.Event) {
	s.active[e.Room] = time.Now() // new events, live or read back: swept for a while
	if e.Seq > s.seen[e.Room] {
		s.seen[e.Room] = e.Seq
	}
	if archivedKinds[e.Kind] {
		s.pending = append(s.pending, e)
	}
}

// readBack queues the kept log's events of room after the last seen one, up to seq upTo
// (0: all).
func (s *Show) readBack(ctx context.Context, room string, upTo int64) {
	after := s.seen[room]
	for ctx.Err() == nil {
		evs, err := s.p.Log.After(ctx, room, after, afterPage)
		if errors.Is(err, stream.ErrGap) {
			// Older than the kept log: what was trimmed is lost to the archive; keep the rest
			// (after 0 reads from the oldest event kept).
			s.log.Warn("events of the room left the kept log before they were archived", "room", room, "after", after)
			evs, err = s.p.Log.After(ctx, room, 0, afterPage)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("cannot read back the room's events", "room", room, "after", after, "err", err)
			}
			return
		}
		for _, e := range evs {
			if upTo > 0 && e.Seq > upTo {
				return
			}
			if e.Seq > s.seen[room] {
				if e.Room == "" {
					e.Room = room
				}
				s.queue(e)
			}
			after = e.Seq
		}
		if len(evs) < afterPage {
			return
		}
	}
}

func (s *Show) catchUp(rooms []string) {
	done := map[string]bool{}
	for _, room := range rooms {
		if room == "" || done[room] || s.ctx.Err() != nil {
			continue
		}
		done[room] = true
		s.readBack(s.ctx, room, 0)
		if len(s.pending) >= s.p.FlushSize {
			s.flush(s.ctx)
		}
	}
	s.flush(s.ctx)
}

// sweepRooms are the rooms read back on a sweep: those with recent events and those recorded now.
func (s *Show) sweepRooms() []string {
	var rooms []string
	for room, at := range s.active {
		if time.Since(at) > activeFor {
			delete(s.active, room)
			continue
		}
		rooms = append(rooms, room)
	}
	return append(rooms, s.liveRooms()...)
}

func (s *Show) liveRooms() []string {
	if s.p.LiveRooms == nil {
		return nil
	}
	return s.p.LiveRooms()
}

// flush stores the pending events (one transaction per room), then the lots they ended.
func (s *Show) flush(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	byRoom := map[string][]catalog.LiveEvent{}
	var order []string
	var lots []stream.Event
	for _, e := range s.pending {
		if _, ok := byRoom[e.Room]; !ok {
			order = append(order, e.Room)
		}
		byRoom[e.Room] = append(byRoom[e.Room], catalog.LiveEvent{Room: e.Room, Seq: e.Seq, At: e.At, Kind: e.Kind, Data: e.Data})
		if e.Kind == catalog.KindLot {
			lots = append(lots, e)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var failed []stream.Event
	for _, room := range order {
		evs := byRoom[room]
		if err := s.p.Catalog.SaveLiveEvents(ctx, room, evs); err != nil {
			s.log.Error("cannot archive the room's events; retrying", "room", room, "events", len(evs), "err", err)
			for _, e := range s.pending {
				if e.Room == room {
					failed = append(failed, e)
				}
			}
			continue
		}
		if last := evs[len(evs)-1].Seq; last > s.saved[room] {
			s.saved[room] = last
		}
	}
	for _, e := range lots {
		if containsRoom(failed, e.Room) {
			continue // retried with its room's events
		}
		if err := s.saveLot(ctx, e); err != nil {
			s.log.Error("cannot archive a lot; retrying", "room", e.Room, "seq", e.Seq, "err", err)
			failed = append(failed, e) // its event again (stored once) and the lot
		}
	}
	s.pending = failed
	if len(failed) == 0 {
		s.fails = 0
		return
	}
	if s.fails++; len(s.pending) > maxPending {
		// Give up holding them: the rooms are read back from the kept log once inserts work.
		s.log.Error("dropping unarchived events; they will be read back from the kept log", "events", len(s.pending))
		for _, e := range s.pending {
			s.seen[e.Room] = s.saved[e.Room]
		}
		s.pending = nil
	}
}

func containsRoom(evs []stream.Event, room string) bool {
	for _, e := range evs {
		if e.Room == room {
			return true
		}
	}
	return false
}

// lotJSON is what the show reads of a K3 Lot.
type lotJSON struct {
	ID         string  `json:"id"`
	Room       string  `json:"room"`
	Title      string  `json:"title"`
	Status     string  `json:"status"`
	Price      int64   `json:"price"`
	Winner     *string `json:"winner"`
	WinnerName string  `json:"winner_name"`
	StartedAt  int64   `json:"started_at"`
	EndedAt    int64   `json:"ended_at"`
}

// ended reports whether a lot status is final.
func ended(status string) bool {
	return status == "sold" || status == "unsold" || status == "cancelled"
}

// saveLot stores the lot state a `lot` event carries; an ended lot gets its bid log too. An
// error is the catalog's (worth retrying); a lot event without a lot is logged and skipped.
func (s *Show) saveLot(ctx context.Context, e stream.Event) error {
	var l lotJSON
	if err := json.Unmarshal(e.Data, &l); err != nil || l.ID == "" {
		s.log.Warn("a lot event without a lot", "room", e.Room, "seq", e.Seq)
		return nil
	}
	row := catalog.Lot{Room: e.Room, ID: l.ID, Seq: e.Seq, Title: l.Title, Status: l.Status, Price: l.Price,
		WinnerName: l.WinnerName, StartedAt: l.StartedAt, EndedAt: l.EndedAt, Data: e.Data}
	if l.Winner != nil {
		row.Winner = *l.Winner
	}
	if ended(l.Status) && row.EndedAt == 0 {
		row.EndedAt = e.At
	}
	var bids []json.RawMessage
	if ended(l.Status) {
		bids = s.bidLog(ctx, e.Room, l.ID)
	}
	return s.p.Catalog.SaveLot(ctx, row, bids)
}

func (s *Show) bidLog(ctx context.Context, room, id string) []json.RawMessage {
	if s.p.Bids != nil {
		bids, err := s.p.Bids.Bids(ctx, room, id)
		if err == nil {
			return bids
		}
		s.log.Warn("cannot read the lot's bid log; keeping the accepted bids archived", "room", room, "lot", id, "err", err)
	}
	bids, err := s.p.Catalog.BidEvents(ctx, room, id)
	if err != nil {
		s.log.Warn("cannot read the lot's archived bids", "room", room, "lot", id, "err", err)
	}
	return bids
}

// ---- the recording timeline (Archive side) ----

// LiveRooms lists the rooms being recorded now (ShowParams.LiveRooms).
func (a *Archive) LiveRooms() []string {
	if a.rec == nil {
		return nil
	}
	var rooms []string
	for id := range a.rec.Live() {
		if r, err := a.cat.Get(a.ctx, id); err == nil {
			rooms = append(rooms, r.Room)
		}
	}
	return rooms
}

// savePart records where the part of the recording that starts now lies on its timeline: a new
// recording starts at 0 at its started_at; a continued one (the publisher reconnected) goes on
// at the end of the previous part, so the pause is not in the video.
func (a *Archive) savePart(m recorder.Manifest) {
	p := catalog.Part{WallMs: m.StartedAt.UnixMilli()}
	if m.Resumed > 0 {
		p = catalog.Part{WallMs: time.Now().UnixMilli(), Start: m.End}
	}
	if err := a.cat.SavePart(a.ctx, m.ID, m.Resumed, p); err != nil {
		a.log.Warn("cannot record the recording's timeline", "recording", m.ID, "err", err)
	}
}

// deleteShow removes a deleted recording's show from the catalog (Delete calls it): the room's
// chat, bids and lots of the recording's span, and its timeline parts.
func (a *Archive) deleteShow(ctx context.Context, rec catalog.Recording) error {
	if rec.Source != "" && rec.Source != catalog.SourceLive {
		return nil // an upload or import has no show
	}
	to := time.Now().UnixMilli()
	if rec.EndedAt != nil {
		to = rec.EndedAt.UnixMilli()
	}
	return a.cat.DeleteShow(ctx, rec.ID, rec.Room, rec.StartedAt.UnixMilli(), to)
}
