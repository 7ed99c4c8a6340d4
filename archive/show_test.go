package archive_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/live/stream"
)

// showRedises: miniredis (the embedded default) always, a real Redis when RELAYCAST_TEST_REDIS
// is set (database 9, flushed).
func showRedises(t *testing.T) map[string]redis.UniversalClient {
	t.Helper()
	m := miniredis.RunT(t)
	mc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = mc.Close() })
	out := map[string]redis.UniversalClient{"miniredis": mc}
	if addr := os.Getenv("RELAYCAST_TEST_REDIS"); addr != "" {
		rc := redis.NewClient(&redis.Options{Addr: addr, DB: 9})
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("real redis: %v", err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		out["redis"] = rc
	}
	return out
}

type showRig struct {
	log *stream.Log
	cat *catalog.SQLite
	dir string
}

func newShowRig(t *testing.T, rdb redis.UniversalClient) *showRig {
	t.Helper()
	l, err := stream.New(stream.Params{Redis: rdb, Channel: "relaycast:live:test:" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	dir := t.TempDir()
	c, err := catalog.Open(catalog.Params{Path: filepath.Join(dir, "catalog.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &showRig{log: l, cat: c, dir: dir}
}

func (r *showRig) start(t *testing.T, p archive.ShowParams) *archive.Show {
	t.Helper()
	p.Log, p.Catalog = r.log, r.cat
	if p.FlushEvery == 0 {
		p.FlushEvery = 20 * time.Millisecond
	}
	if p.Sweep == 0 {
		p.Sweep = 200 * time.Millisecond
	}
	s, err := archive.NewShow(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (r *showRig) emit(t *testing.T, room, kind string, data any) stream.Event {
	t.Helper()
	e, err := r.log.Emit(context.Background(), room, kind, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Test data in the K2/K3 shapes (the chat and auction packages emit these).
func chatData(id int64, name, text string) map[string]any {
	return map[string]any{"id": id, "subject": "sub-" + name, "name": name, "text": text, "at": time.Now().UnixMilli()}
}

func lotData(id, status string, price int64, winner string, started, ended int64) map[string]any {
	d := map[string]any{"id": id, "room": "shop", "title": "Vintage lamp", "status": status, "price": price,
		"start_price": 1000, "started_at": started, "ended_at": ended, "winner": nil, "winner_name": ""}
	if winner != "" {
		d["winner"], d["winner_name"] = "sub-"+winner, winner
	}
	return d
}

func bidData(lot string, n int, name string, amount int64) map[string]any {
	return map[string]any{"lot_id": lot, "bid": map[string]any{"n": n, "lot_id": lot, "subject": "sub-" + name, "name": name,
		"amount": amount, "accepted": true, "price": amount, "leader": "sub-" + name}, "lot": lotData(lot, "open", amount, "", 1, 0)}
}

// eventually polls cond for 10 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seqsOf(c *catalog.SQLite, room string) string {
	evs, err := c.LiveEvents(context.Background(), room, 0, 1<<62)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%d:%s", e.Seq, e.Kind))
	}
	return strings.Join(parts, " ")
}

func TestShowArchivesRoomEvents(t *testing.T) {
	for name, rdb := range showRedises(t) {
		t.Run(name, func(t *testing.T) {
			r := newShowRig(t, rdb)
			r.start(t, archive.ShowParams{})
			now := time.Now().UnixMilli()
			r.emit(t, "shop", "chat", chatData(1, "Ann", "hello"))                               // 1
			r.emit(t, "shop", "chat", chatData(2, "Bob", "<b>spam</b>"))                         // 2
			r.emit(t, "shop", "reactions", map[string]any{"counts": map[string]int{"heart": 3}}) // 3: not archived
			r.emit(t, "shop", "chat.deleted", map[string]any{"id": 2, "by": "mod"})              // 4
			r.emit(t, "shop", "lot", lotData("L1", "queued", 1000, "", 0, 0))                    // 5
			r.emit(t, "shop", "lot", lotData("L1", "open", 1000, "", now, 0))                    // 6
			r.emit(t, "shop", "bid", bidData("L1", 1, "Ann", 1000))                              // 7
			r.emit(t, "shop", "bid", bidData("L1", 2, "Cid", 1100))                              // 8
			r.emit(t, "shop", "lot", lotData("L1", "sold", 1100, "Cid", now, now+5))             // 9
			r.emit(t, "other", "chat", chatData(1, "Dee", "elsewhere"))
			want := "1:chat 5:lot 6:lot 7:bid 8:bid 9:lot"
			eventually(t, "archived events", func() (bool, string) { s := seqsOf(r.cat, "shop"); return s == want, s })
			if s := seqsOf(r.cat, "other"); s != "1:chat" {
				t.Fatalf("other room: %s", s)
			}
			var lot catalog.Lot
			eventually(t, "sold lot", func() (bool, string) {
				var err error
				lot, err = r.cat.GetLot(context.Background(), "shop", "L1")
				return err == nil && lot.Status == "sold", fmt.Sprintf("%+v %v", lot, err)
			})
			if lot.Price != 1100 || lot.WinnerName != "Cid" || lot.Winner != "sub-Cid" || lot.StartedAt != now || lot.EndedAt != now+5 || lot.Title != "Vintage lamp" {
				t.Fatalf("lot %+v", lot)
			}
			// No BidLog: the lot's log is the accepted bids of its bid events.
			bids, err := r.cat.LotBids(context.Background(), "shop", "L1")
			if err != nil || len(bids) != 2 {
				t.Fatalf("bids %s %v", bids, err)
			}
			var b struct {
				N      int    `json:"n"`
				Name   string `json:"name"`
				Amount int64  `json:"amount"`
			}
			_ = json.Unmarshal(bids[1], &b)
			if b.N != 2 || b.Name != "Cid" || b.Amount != 1100 {
				t.Fatalf("bid 2: %s", bids[1])
			}
		})
	}
}

// fakeBids is a BidLog (the auction's full log, refused bids included).
type fakeBids map[string][]json.RawMessage

func (f fakeBids) Bids(_ context.Context, room, id string) ([]json.RawMessage, error) {
	if b, ok := f[room+"/"+id]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no lot %s", id)
}

func TestShowTakesTheFullBidLog(t *testing.T) {
	r := newShowRig(t, showRedises(t)["miniredis"])
	full := fakeBids{"shop/L7": {
		json.RawMessage(`{"n":1,"lot_id":"L7","name":"Ann","amount":1000,"accepted":true}`),
		json.RawMessage(`{"n":2,"lot_id":"L7","name":"Bob","amount":1000,"accepted":false,"reason":"too_low"}`),
		json.RawMessage(`{"n":3,"lot_id":"L7","name":"Bob","amount":1200,"accepted":true}`),
	}}
	r.start(t, archive.ShowParams{Bids: full})
	now := time.Now().UnixMilli()
	r.emit(t, "shop", "lot", lotData("L7", "open", 1000, "", now, 0))
	r.emit(t, "shop", "lot", lotData("L7", "sold", 1200, "Bob", now, now+1))
	eventually(t, "full bid log", func() (bool, string) {
		bids, err := r.cat.LotBids(context.Background(), "shop", "L7")
		return err == nil && len(bids) == 3 && strings.Contains(string(bids[1]), "too_low"), fmt.Sprintf("%s %v", bids, err)
	})
}

func TestShowCatchesUpFromTheKeptLog(t *testing.T) {
	for name, rdb := range showRedises(t) {
		t.Run(name, func(t *testing.T) {
			r := newShowRig(t, rdb)
			s := r.start(t, archive.ShowParams{})
			r.emit(t, "shop", "chat", chatData(1, "Ann", "before the restart"))
			eventually(t, "first message", func() (bool, string) { s := seqsOf(r.cat, "shop"); return s == "1:chat", s })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// While no archiver runs: more chat, a whole lot, and a room the catalog has never
			// seen but that is being recorded.
			now := time.Now().UnixMilli()
			r.emit(t, "shop", "chat", chatData(2, "Bob", "while down"))
			r.emit(t, "shop", "lot", lotData("L2", "open", 500, "", now, 0))
			r.emit(t, "shop", "bid", bidData("L2", 1, "Bob", 500))
			r.emit(t, "shop", "lot", lotData("L2", "sold", 500, "Bob", now, now+1))
			r.emit(t, "studio", "chat", chatData(1, "Eve", "new room"))
			r.start(t, archive.ShowParams{LiveRooms: func() []string { return []string{"studio"} }})
			eventually(t, "caught up", func() (bool, string) {
				s := seqsOf(r.cat, "shop")
				return s == "1:chat 2:chat 3:lot 4:bid 5:lot", s
			})
			eventually(t, "live room caught up", func() (bool, string) { s := seqsOf(r.cat, "studio"); return s == "1:chat", s })
			eventually(t, "lot of the catch-up", func() (bool, string) {
				l, err := r.cat.GetLot(context.Background(), "shop", "L2")
				bids, _ := r.cat.LotBids(context.Background(), "shop", "L2")
				return err == nil && l.Status == "sold" && len(bids) == 1, fmt.Sprintf("%+v %v %s", l, err, bids)
			})

			// An event that reached the log but whose pub/sub message was lost (a Redis
			// reconnect): the sweep reads it back, with no later event to reveal the gap.
			ctx := context.Background()
			seq, err := rdb.Incr(ctx, r.log.Key("shop", "seq")).Result()
			if err != nil {
				t.Fatal(err)
			}
			lost, _ := json.Marshal(stream.Event{Seq: seq, Room: "shop", Kind: "chat", At: time.Now().UnixMilli(),
				Data: json.RawMessage(fmt.Sprintf(`{"id":%d,"name":"Ann","text":"lost on the wire"}`, seq))})
			if err := rdb.ZAdd(ctx, r.log.Key("shop", "log"), redis.Z{Score: float64(seq), Member: string(lost)}).Err(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "lost message swept", func() (bool, string) {
				s := seqsOf(r.cat, "shop")
				return strings.HasSuffix(s, fmt.Sprintf(" %d:chat", seq)), s
			})
			// And a later live event after a gap of its own is filled in order too.
			if _, err := rdb.Incr(ctx, r.log.Key("shop", "seq")).Result(); err != nil {
				t.Fatal(err)
			}
			gap, _ := json.Marshal(stream.Event{Seq: seq + 1, Room: "shop", Kind: "chat", At: time.Now().UnixMilli(),
				Data: json.RawMessage(fmt.Sprintf(`{"id":%d,"name":"Ann","text":"gap"}`, seq+1))})
			_ = rdb.ZAdd(ctx, r.log.Key("shop", "log"), redis.Z{Score: float64(seq + 1), Member: string(gap)}).Err()
			r.emit(t, "shop", "chat", chatData(seq+2, "Ann", "after the gap"))
			eventually(t, "gap filled", func() (bool, string) {
				s := seqsOf(r.cat, "shop")
				return strings.HasSuffix(s, fmt.Sprintf(" %d:chat %d:chat %d:chat", seq, seq+1, seq+2)), s
			})
		})
	}
}

// TestShowTimelineAcrossAReconnect: a publisher reconnects within --reconnect-grace, so the
// recording goes on without the pause; the archive records where the second part starts, and
// the events API places what was said in the pause where the video resumes and what was said
// after it that much earlier than the wall clock would.
func TestShowTimelineAcrossAReconnect(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("records video (skipped with -short)")
	}
	s := startArchive(t, func(c *config.Config) { c.ReconnectGrace = 10 * time.Second })
	opt := s.Archive().RedisOpt()
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	live, err := stream.New(stream.Params{Redis: rdb, Channel: archive.ChannelFor(stream.DefaultPrefix+":events", opt)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Close() })
	say := func(text string) stream.Event {
		e, err := live.Emit(context.Background(), "shop", "chat", map[string]any{"id": 0, "subject": "sub-ann", "name": "Ann", "text": text})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "shop", 3*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Second)
	first := say("during the first part")
	<-pub.Done()
	stop()
	time.Sleep(time.Second)
	pause := say("while the seller is away")
	time.Sleep(time.Second)
	pub2, stop2 := s.PublishFile(t, "shop", 3*time.Second)
	var parts []catalog.Part
	eventually(t, "the second part", func() (bool, string) {
		parts, err = s.Archive().Catalog().Parts(context.Background(), rec.ID)
		return err == nil && len(parts) == 2, fmt.Sprintf("%+v %v", parts, err)
	})
	time.Sleep(time.Second)
	after := say("after the reconnect")
	<-pub2.Done()
	stop2()
	r := waitStatus(t, events, rec.ID, catalog.StatusProcessing, 30*time.Second)
	for r.EndedAt == nil || r.EndedAt.UnixMilli() < after.At {
		r = waitStatus(t, events, rec.ID, catalog.StatusProcessing, 30*time.Second)
	}
	p0, p1 := parts[0], parts[1]
	if p0.WallMs != r.StartedAt.UnixMilli() || p0.Start != 0 || p1.Start < 1.5 || p1.Start > 3.5 ||
		float64(p1.WallMs-p0.WallMs)/1000 < p1.Start+1.5 {
		t.Fatalf("parts %+v of a recording started at %d: want the second part at about 3 s, after a pause of 2 s", parts, r.StartedAt.UnixMilli())
	}
	var got []struct {
		T   float64 `json:"t"`
		Seq int64   `json:"seq"`
	}
	eventually(t, "the three messages archived", func() (bool, string) {
		got = nil
		getJSON(t, s.Base+"/api/recordings/"+rec.ID+"/events", "", &got)
		return len(got) == 3, fmt.Sprint(got)
	})
	want := []float64{
		float64(first.At-p0.WallMs) / 1000, // on the wall clock from the start
		p1.Start,                           // in the pause: where the video resumes
		p1.Start + float64(after.At-p1.WallMs)/1000, // the pause left out
	}
	for i, e := range []stream.Event{first, pause, after} {
		if got[i].Seq != e.Seq || math.Abs(got[i].T-want[i]) > 0.001 {
			t.Errorf("message %d: %+v, want seq %d at %.3f s", i+1, got[i], e.Seq, want[i])
		}
	}
	if wall := float64(after.At-r.StartedAt.UnixMilli()) / 1000; got[2].T > wall-1.5 {
		t.Errorf("the message after the reconnect is at %.3f s, %.3f s by the wall clock: the pause was not left out", got[2].T, wall)
	}
}

// TestShowRetriesFailedInserts: while the catalog cannot be written (another writer holds it
// past the busy timeout), events and lots wait; once it can, they are stored, in order, once.
func TestShowRetriesFailedInserts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 5 s busy timeout")
	}
	r := newShowRig(t, showRedises(t)["miniredis"])
	logs := &lockedBuffer{}
	r.start(t, archive.ShowParams{FlushEvery: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	r.emit(t, "shop", "chat", chatData(1, "Ann", "before"))
	eventually(t, "first message", func() (bool, string) { s := seqsOf(r.cat, "shop"); return s == "1:chat", s })

	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dir, "catalog.db")+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil { // holds the write lock
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	r.emit(t, "shop", "chat", chatData(2, "Bob", "while locked"))
	r.emit(t, "shop", "lot", lotData("L3", "open", 700, "", now, 0))
	r.emit(t, "shop", "lot", lotData("L3", "unsold", 700, "", now, now+1))
	time.Sleep(6 * time.Second) // at least one insert waited out the busy timeout and failed
	if s := seqsOf(r.cat, "shop"); s != "1:chat" {
		t.Fatalf("stored while the catalog was locked: %s", s)
	}
	if !strings.Contains(logs.String(), "cannot archive the room's events; retrying") {
		t.Fatalf("no insert failed while the catalog was locked; log:\n%s", logs.String())
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	eventually(t, "the held events", func() (bool, string) { s := seqsOf(r.cat, "shop"); return s == "1:chat 2:chat 3:lot 4:lot", s })
	eventually(t, "the held lot", func() (bool, string) {
		l, err := r.cat.GetLot(context.Background(), "shop", "L3")
		return err == nil && l.Status == "unsold", fmt.Sprintf("%+v %v", l, err)
	})
}

// lockedBuffer is an io.Writer for a test's logger, safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
