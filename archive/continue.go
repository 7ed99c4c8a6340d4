package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// Cross-node continuation: one show is one recording, whichever nodes it ran on.
//
// Every live recording has its state in Redis (docs/CLUSTER.md "Recording across nodes"):
//
//	relaycast:rec:room:{room}  STRING recording id, PX ReconnectGrace, renewed every second by the
//	                           node recording it; left to expire after a clean end. While it
//	                           exists, a new broadcast of the room (on any node) continues that
//	                           recording.
//	relaycast:rec:{id}         STRING recState JSON (kept 7 days): the parts (which node wrote
//	                           which chunk indices), the chunks claimed, the timeline end, holes.
//	relaycast:rec:open         SET of the ids whose current part has not ended: a recording whose
//	                           room key expired while in it (its node died and nobody went on)
//	                           is finished by any node's sweep (an orphan).
//
// A node uploads a chunk only after claiming its index in the state (WATCH/MULTI): a claim
// succeeds for an index of one of the node's own parts and, in the open part, moves the
// recording's next index and timeline end. A node that attaches to a room whose key exists
// takes the recording over: it closes the open part at the next unclaimed index (or at the
// final count after a clean end), turns the claimed-but-unconfirmed chunks of that part into
// holes, and goes on from there, its timeline starting at the end of the last claimed chunk.
// The previous node's later chunks (the one in flight when it died, found by its reconciler
// when it restarts) lie in the new part's range and their claims are refused: they are
// ignored, never collide. The finalize skips holes that never came (transcode.End.Holes).
const (
	recKeyPrefix = "relaycast:rec:"
	recStateTTL  = 7 * 24 * time.Hour
	redisTimeout = 2 * time.Second
	beatEvery    = time.Second
	orphanEvery  = 5 * time.Second
	openPart     = -1
)

type recPart struct {
	Node  string `json:"node"`
	First int    `json:"first"`
	Cut   int    `json:"cut"` // first index after the part, openPart while it is the current one
}

// recState is relaycast:rec:{id}.
type recState struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Seller    string    `json:"seller,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Part      int       `json:"part"` // number of the current part (0 = the first broadcast)
	Parts     []recPart `json:"parts"`
	Next      int       `json:"next"`    // first index after every claimed chunk
	End       float64   `json:"end"`     // timeline end of the claimed chunks, seconds
	Pending   []int     `json:"pending"` // claimed by the current part, upload not confirmed
	Holes     []int     `json:"holes"`   // may never come (claimed by a part that was taken over)
	Ended     bool      `json:"ended"`   // the current part ended cleanly
	Chunks    int       `json:"chunks"`  // its final count then
	TLEnd     float64   `json:"tl_end"`  // its timeline end then
}

func (st *recState) current() *recPart { return &st.Parts[len(st.Parts)-1] }

// part returns the part that holds chunk index i.
func (st *recState) part(i int) *recPart {
	for k := len(st.Parts) - 1; k >= 0; k-- {
		p := &st.Parts[k]
		if i >= p.First && (p.Cut == openPart || i < p.Cut) {
			return p
		}
	}
	return nil
}

// continuation keeps the recordings' state in Redis for one node.
type continuation struct {
	rdb   redis.UniversalClient
	node  string
	grace time.Duration
	log   *slog.Logger
	store storage.Storage
	// async runs f in a goroutine the archive owns.
	async func(f func(ctx context.Context))
}

// NodeID is the default id of a node in the recordings' state: the host name and a hash of the
// data directory, stable across restarts (a restarted node recognises its own chunks).
func NodeID(dataDir string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return host + "/" + hex.EncodeToString(sum[:4])
}

const openSet = recKeyPrefix + "open"

func roomKey(room string) string { return recKeyPrefix + "room:" + room }
func stateKey(id string) string  { return recKeyPrefix + id }

func (c *continuation) get(ctx context.Context, tx redis.Cmdable, id string) (*recState, error) {
	b, err := tx.Get(ctx, stateKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st recState
	if err := json.Unmarshal(b, &st); err != nil || len(st.Parts) == 0 {
		return nil, fmt.Errorf("%w: bad recording state %s: %v", ErrQueue, id, err)
	}
	return &st, nil
}

// update runs fn on the state of id in an optimistic transaction (retried on a conflict); fn
// returns whether to write the state back and what else to queue in the transaction.
func (c *continuation) update(ctx context.Context, id string, fn func(st *recState, pipe redis.Pipeliner) bool) (*recState, error) {
	var out *recState
	for attempt := 0; attempt < 20; attempt++ {
		err := c.rdb.Watch(ctx, func(tx *redis.Tx) error {
			st, err := c.get(ctx, tx, id)
			if err != nil || st == nil {
				out = nil
				return err
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				if fn(st, pipe) {
					b, _ := json.Marshal(st)
					pipe.Set(ctx, stateKey(id), b, recStateTTL)
				}
				return nil
			})
			out = st
			return err
		}, stateKey(id))
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return nil, fmt.Errorf("%w: recording state %s: too many concurrent updates", ErrQueue, id)
}

// begin records a new recording (Started hook, first part).
func (c *continuation) begin(m recorder.Manifest, seller string) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	st := recState{ID: m.ID, Room: m.Room, Seller: seller, StartedAt: m.StartedAt, Width: m.Width, Height: m.Height,
		Parts: []recPart{{Node: c.node, First: m.Chunks, Cut: openPart}}, Next: m.Chunks, End: m.End, Pending: []int{}, Holes: []int{}}
	b, _ := json.Marshal(st)
	if _, err := c.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, stateKey(m.ID), b, recStateTTL)
		pipe.Set(ctx, roomKey(m.Room), m.ID, c.grace)
		pipe.SAdd(ctx, openSet, m.ID)
		return nil
	}); err != nil {
		c.log.Warn("cannot record the recording's state: it will not continue on another node", "recording", m.ID, "err", err)
	}
}

// resume is the recorder's Continue hook: the room's recording goes on here when its room key
// lives (live on another node, or ended less than the grace ago), else the local ended one
// (when Redis does not know it: flushed, or down).
func (c *continuation) resume(room string, local *recorder.Manifest) (recorder.Manifest, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	fallback := func(why string, err error) (recorder.Manifest, bool) {
		if local == nil {
			return recorder.Manifest{}, false
		}
		if err != nil {
			c.log.Warn("recording state unavailable; continuing the local recording", "room", room, "why", why, "err", err)
		}
		m := *local
		m.Resumed++
		return m, true
	}
	id, err := c.rdb.Get(ctx, roomKey(room)).Result()
	switch {
	case errors.Is(err, redis.Nil) && local != nil:
		id = local.ID
	case errors.Is(err, redis.Nil):
		return recorder.Manifest{}, false
	case err != nil:
		return fallback("redis", err)
	}
	var holes []int
	at := c.position(ctx, id) // how far the current part's node got (continue_inflight.go)
	st, err := c.update(ctx, id, func(st *recState, pipe redis.Pipeliner) bool {
		cur := st.current()
		cut := reserveInFlight(st, at)
		if st.Ended {
			cut = max(cut, st.Chunks)
		}
		cur.Cut = max(cut, cur.First)
		for _, i := range st.Pending {
			if i < cur.Cut && !slices.Contains(st.Holes, i) {
				st.Holes = append(st.Holes, i)
			}
		}
		if st.Ended {
			st.End = max(st.End, st.TLEnd)
		}
		st.Pending, st.Ended, st.Next = []int{}, false, cur.Cut
		st.Part++
		st.Parts = append(st.Parts, recPart{Node: c.node, First: cur.Cut, Cut: openPart})
		holes = slices.Clone(st.Holes)
		pipe.Set(ctx, roomKey(room), id, c.grace)
		pipe.SAdd(ctx, openSet, id)
		return true
	})
	if err != nil {
		return fallback("redis", err)
	}
	if st == nil {
		return fallback("unknown recording", nil)
	}
	prev := st.Parts[len(st.Parts)-2]
	c.log.Info("continuing the room's recording", "room", room, "recording", id, "part", st.Part,
		"from_node", prev.Node, "first_chunk", st.Next, "timeline", st.End, "holes", holes)
	if len(holes) > 0 {
		c.async(func(ctx context.Context) {
			b, _ := json.Marshal(transcode.Holes{Holes: holes})
			if err := c.store.Put(ctx, transcode.HolesKey(id), bytes.NewReader(b), int64(len(b))); err != nil {
				c.log.Warn("cannot store the recording's holes", "recording", id, "err", err)
			}
		})
	}
	return recorder.Manifest{ID: st.ID, Room: st.Room, StartedAt: st.StartedAt, Chunks: st.Next, End: st.End,
		Width: st.Width, Height: st.Height, Resumed: st.Part}, true
}

// claim asks to upload chunk ci: false when its index belongs to another node's part (the
// recording went on elsewhere and this chunk is not part of it).
func (c *continuation) claim(ctx context.Context, ci recorder.ChunkInfo) (bool, error) {
	ok := true
	_, err := c.update(ctx, ci.RecordingID, func(st *recState, _ redis.Pipeliner) bool {
		p := st.part(ci.Index)
		if p == nil || p.Node != c.node {
			ok = false
			return false
		}
		if p.Cut != openPart {
			return false // a chunk of an earlier part (a restarted node's reconciler)
		}
		st.Next = max(st.Next, ci.Index+1)
		st.End = max(st.End, ci.Start+ci.Duration)
		if !slices.Contains(st.Pending, ci.Index) {
			st.Pending = append(st.Pending, ci.Index)
		}
		if st.Width == 0 {
			st.Width, st.Height = ci.Width, ci.Height
		}
		return true
	})
	return ok, err
}

// ack confirms that chunk i of id is uploaded and queued.
func (c *continuation) ack(ctx context.Context, id string, i int) {
	_, err := c.update(ctx, id, func(st *recState, _ redis.Pipeliner) bool {
		k := slices.Index(st.Pending, i)
		if k < 0 {
			return false
		}
		st.Pending = slices.Delete(st.Pending, k, k+1)
		return true
	})
	if err != nil {
		c.log.Warn("cannot confirm a chunk in the recording's state", "recording", id, "chunk", i, "err", err)
	}
}

// ended records a clean end of this node's part (Ended hook): the room key stays for the grace.
func (c *continuation) ended(m recorder.Manifest) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	_, err := c.update(ctx, m.ID, func(st *recState, pipe redis.Pipeliner) bool {
		if st.current().Node != c.node || st.current().First > m.Chunks {
			return false // taken over meanwhile (by another node, or a later part here)
		}
		st.Ended, st.Chunks, st.TLEnd = true, m.Chunks, m.End
		st.Next = max(st.Next, m.Chunks)
		pipe.Set(ctx, roomKey(m.Room), m.ID, c.grace)
		return true
	})
	if err != nil {
		c.log.Warn("cannot record the recording's end", "recording", m.ID, "err", err)
	}
}

// mayEnd reports whether this node writes the end of recording id (it recorded the current
// part; true also when Redis does not know the recording) and the holes to skip.
func (c *continuation) mayEnd(ctx context.Context, id string) ([]int, bool, error) {
	st, err := c.get(ctx, c.rdb, id)
	if err != nil || st == nil {
		return nil, true, err
	}
	return st.Holes, st.current().Node == c.node, nil
}

// foreign reports whether recording id went on on another node after this node's part, and
// then which chunk indices are this node's (in one of its parts).
func (c *continuation) foreign(ctx context.Context, id string) (mine func(int) bool, ok bool) {
	st, err := c.get(ctx, c.rdb, id)
	if err != nil || st == nil || st.current().Node == c.node {
		return nil, false
	}
	return func(i int) bool {
		p := st.part(i)
		return p != nil && p.Node == c.node
	}, true
}

// live reports whether recording id is being recorded on some node now (its room key lives and
// its current part did not end).
func (c *continuation) live(ctx context.Context, id string) bool {
	st, err := c.get(ctx, c.rdb, id)
	if err != nil || st == nil || st.Ended {
		return false
	}
	cur, err := c.rdb.Get(ctx, roomKey(st.Room)).Result()
	return err == nil && cur == id
}

// beat renews the room keys of the recordings this node records now and notes how far each
// got (continue_inflight.go). It costs three round trips a second per node, whatever the number
// of recordings (issue 16): the states in one pipeline, their room keys in another, then every
// renewal in one transaction.
func (c *continuation) beat(ctx context.Context, live map[string]recorder.Position) {
	if len(live) == 0 {
		return
	}
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	states := make([]*redis.StringCmd, len(ids))
	_, _ = c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			states[i] = pipe.Get(ctx, stateKey(id))
		}
		return nil
	})
	type beating struct {
		id  string
		st  *recState
		cur *redis.StringCmd
	}
	var todo []beating
	for i, id := range ids {
		b, err := states[i].Bytes()
		if err != nil {
			continue // none (not a cross-node recording), or Redis is away: the next beat
		}
		var st recState
		if json.Unmarshal(b, &st) != nil || len(st.Parts) == 0 || st.current().Node != c.node || st.Ended {
			continue
		}
		todo = append(todo, beating{id: id, st: &st})
	}
	if len(todo) == 0 {
		return
	}
	_, _ = c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range todo {
			todo[i].cur = pipe.Get(ctx, roomKey(todo[i].st.Room))
		}
		return nil
	})
	if _, err := c.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, b := range todo {
			if cur, err := b.cur.Result(); err == nil && cur != b.id {
				continue // the room went on as another recording
			}
			pipe.Set(ctx, roomKey(b.st.Room), b.id, c.grace)
			c.notePosition(ctx, pipe, b.st, live[b.id])
		}
		return nil
	}); err != nil {
		c.log.Debug("cannot renew the recordings' room keys", "recordings", len(todo), "err", err)
	}
}

// orphans finishes the recordings whose current part's node vanished: the room key expired
// (nobody renewed it for the grace, nobody went on) and the part never ended. The state is
// ended at the claimed chunks (pending ones become holes) in a transaction that also checks
// the room key is still absent, so one node finishes each; it returns the states it ended.
// A node that comes back later with more chunks of its part still uploads them and ends the
// recording again with them (its reconciler: the part is its own).
func (c *continuation) orphans(ctx context.Context) []recState {
	ids, err := c.rdb.SMembers(ctx, openSet).Result()
	if err != nil {
		return nil
	}
	var out []recState
	for _, id := range ids {
		st, err := c.get(ctx, c.rdb, id)
		if err != nil {
			continue
		}
		if st == nil || (st.Ended && c.rdb.Exists(ctx, roomKey(st.Room)).Val() == 0) {
			c.rdb.SRem(ctx, openSet, id) // gone, or ended and past its grace
			continue
		}
		if st.Ended {
			continue
		}
		var done *recState
		err = c.rdb.Watch(ctx, func(tx *redis.Tx) error {
			st, err := c.get(ctx, tx, id)
			if err != nil || st == nil || st.Ended {
				return err
			}
			if n, err := tx.Exists(ctx, roomKey(st.Room)).Result(); err != nil || n > 0 {
				return err // live, or continuable
			}
			for _, i := range st.Pending {
				if !slices.Contains(st.Holes, i) {
					st.Holes = append(st.Holes, i)
				}
			}
			st.Pending, st.Ended, st.Chunks, st.TLEnd = []int{}, true, st.Next, st.End
			b, _ := json.Marshal(st)
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, stateKey(id), b, recStateTTL)
				pipe.SRem(ctx, openSet, id)
				return nil
			})
			if err == nil {
				done = st
			}
			return err
		}, stateKey(id), roomKey(st.Room))
		if err == nil && done != nil {
			c.log.Warn("recording's node vanished mid-show and nobody went on: finishing it", "recording", id,
				"node", done.current().Node, "chunks", done.Chunks, "holes", done.Holes)
			out = append(out, *done)
		}
	}
	return out
}

// runBeat renews the room keys every second until the archive closes.
func (a *Archive) runBeat() {
	defer a.wg.Done()
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	// Orphans are looked for once the reconciler had its chance to end this node's own.
	sweepAt := time.Now().Add(a.cfg.ReconnectGrace)
	for {
		select {
		case <-a.ctx.Done():
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(a.ctx, redisTimeout)
			a.cont.beat(ctx, a.rec.Positions())
			cancel()
			if a.cfg.ReconnectGrace > 0 && now.After(sweepAt) {
				sweepAt = now.Add(orphanEvery)
				ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
				for _, st := range a.cont.orphans(ctx) {
					a.finishOrphan(st)
				}
				cancel()
			}
		}
	}
}

// finishOrphan ends a recording whose node vanished (orphans): the catalog entry leaves
// "recording" and the end job is queued here with the state's chunk count and holes.
func (a *Archive) finishOrphan(st recState) {
	now := time.Now().UTC()
	if r, err := a.cat.Update(a.ctx, st.ID, func(r *catalog.Recording) error {
		if r.Status != catalog.StatusRecording {
			return errNoChange
		}
		r.Status, r.EndedAt = catalog.StatusProcessing, &now
		r.Duration = now.Sub(r.StartedAt).Seconds()
		return nil
	}); err == nil {
		a.publish("recording", r.ID, r)
	}
	a.submit(archiveJob{end: &recorder.Manifest{ID: st.ID, Room: st.Room, StartedAt: st.StartedAt, EndedAt: &now,
		Chunks: st.Chunks, Width: st.Width, Height: st.Height, End: st.TLEnd}, orphan: true})
}

// goAsync runs f in a goroutine of the archive (Close waits for it).
func (a *Archive) goAsync(f func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
		defer cancel()
		f(ctx)
	}()
}
