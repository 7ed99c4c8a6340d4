package archive_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// recStateOf is what the test reads of a recording's state in Redis (archive/continue.go).
type recStateOf struct {
	Parts []struct {
		Node  string `json:"node"`
		First int    `json:"first"`
		Cut   int    `json:"cut"`
	} `json:"parts"`
	Next  int     `json:"next"`
	End   float64 `json:"end"`
	Holes []int   `json:"holes"`
}

// sharedNodes starts two recording nodes A and B on one Redis (database db), one VOD storage
// (S3 with RELAYCAST_TEST_S3, else one local directory) and one catalog (B's catalog.db is a
// symbolic link to A's: the SQLite file is shared as PostgreSQL would be), each with its own
// data directory (recordings on its own disk). It returns them, the storage and the Redis URL.
func sharedNodes(t *testing.T, db int) (a, b *testserver.Archive, st storage.Storage, rurl string) {
	t.Helper()
	rurl = testRedisURL(t, db)
	var inBucket func(*config.Config)
	if os.Getenv("RELAYCAST_TEST_S3") != "" {
		_, inBucket = testserver.S3Bucket(t, "cross")
	} else {
		vod := t.TempDir()
		inBucket = func(c *config.Config) { c.StorageDir = vod }
	}
	shared := func(c *config.Config) {
		inBucket(c)
		c.RedisURL, c.ReconnectGrace = rurl, 15*time.Second
	}
	a = startArchive(t, shared)
	bdir := t.TempDir()
	if err := os.Symlink(filepath.Join(a.Config.DataDir, "catalog.db"), filepath.Join(bdir, "catalog.db")); err != nil {
		t.Fatal(err)
	}
	b = startArchive(t, func(c *config.Config) { shared(c); c.DataDir = bdir })
	st, _, err := archive.OpenStorage(context.Background(), a.Config)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, st, rurl
}

func readState(t *testing.T, rurl, id string) recStateOf {
	t.Helper()
	opt, err := redis.ParseURL(rurl)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	raw, err := rc.Get(context.Background(), "relaycast:rec:"+id).Bytes()
	if err != nil {
		t.Fatalf("recording state of %s: %v", id, err)
	}
	var s recStateOf
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// localChunks lists the chunk indices a node's disk holds of recording id.
func localChunks(t *testing.T, node *testserver.Archive, id string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(node.Config.RecordingsDir(), id, "c*", "chunk.json"))
	var out []int
	for _, f := range files {
		var c recorder.ChunkInfo
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &c) == nil && (c.Video != nil || c.Audio != nil) {
			out = append(out, c.Index)
		}
	}
	sort.Ints(out)
	return out
}

// TestRecordingAcrossNodes: a broadcast on node A is cut mid-chunk and the seller publishes the
// same room on node B within the grace: the catalog has ONE recording of the room, ready, whose
// chunks came from both nodes in index order, with the duration of both parts. Two cuts: the
// publisher vanishes from A (no WHIP DELETE), and A drains (server shutdown, as on SIGTERM).
func TestRecordingAcrossNodes(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("two nodes, transcodes (skipped with -short)")
	}
	for i, how := range []string{"vanish", "drain"} {
		t.Run(how, func(t *testing.T) { recordAcross(t, 13+i, how == "drain") })
	}
}

func recordAcross(t *testing.T, db int, drain bool) {
	a, b, st, rurl := sharedNodes(t, db)
	const partB = 8 * time.Second
	clip(t, partB)           // made now: B's publish must come within the grace
	events := sse(t, b.Base) // one Redis: B's SSE carries A's events too
	const room = "handover"
	pubA, _ := a.PublishFile(t, room, 20*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(9500 * time.Millisecond))) // two 4 s chunks done, the third in flight
	cut := time.Now()
	if drain {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_ = a.Shutdown(ctx)
		cancel()
	}
	_ = pubA.Close() // abrupt: no WHIP DELETE
	pubB, stopB := b.PublishFile(t, room, partB)
	<-pubB.Done()
	stopB()
	// A's part may be finalized (ready) before B goes on: the ready that counts is the last one.
	deadline := time.Now().Add(90 * time.Second)
	r := waitStatus(t, events, rec.ID, catalog.StatusReady, time.Until(deadline))
	s := readState(t, rurl, rec.ID)
	if len(s.Parts) != 2 {
		t.Fatalf("parts %+v: want A's then B's", s.Parts)
	}
	want := stateEndOfA(t, st, rec.ID, s.Parts[1].First) + partB.Seconds()
	for r.Duration < want-1 {
		r = waitStatus(t, events, rec.ID, catalog.StatusReady, time.Until(deadline))
	}
	t.Logf("state: %+v", s)
	if s.Parts[0].Node == s.Parts[1].Node || s.Parts[0].Cut != s.Parts[1].First {
		t.Fatalf("parts %+v: want A's then B's", s.Parts)
	}
	onA, onB := localChunks(t, a, rec.ID), localChunks(t, b, rec.ID)
	t.Logf("chunks on A's disk %v, on B's disk %v", onA, onB)
	if len(onB) == 0 || onB[0] != s.Parts[1].First {
		t.Errorf("B's chunks %v: want from index %d on", onB, s.Parts[1].First)
	}
	for i := 0; i < s.Parts[1].First; i++ { // A's part: every claimed chunk is in storage (no hole here)
		if ok := exists(t, st, transcode.ChunkDoneKey(rec.ID, i)); !ok && !contains(s.Holes, i) {
			t.Errorf("chunk %d of A's part not archived", i)
		}
	}
	for _, i := range onB {
		if !exists(t, st, transcode.ChunkDoneKey(rec.ID, i)) {
			t.Errorf("chunk %d of B's part not archived", i)
		}
	}
	var page catalog.Page
	if code := getJSON(t, b.Base+"/api/recordings?room="+room, "", &page); code != 200 {
		t.Fatalf("list: %d", code)
	}
	n := 0
	for _, x := range page.Recordings {
		if x.Room == room {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d recordings of the room, want one: %+v", n, page.Recordings)
	}
	sentA := cut.Sub(rec.StartedAt).Seconds()
	t.Logf("A sent %.2f s before the cut, %.2f s of it archived (lost %.2f s, the chunk in flight); ready duration %.2f s, want %.2f",
		sentA, want-partB.Seconds(), sentA-(want-partB.Seconds()), r.Duration, want)
	if d := r.Duration - want; d > 1 || d < -1 {
		t.Errorf("duration %.2f s, want %.2f ± 1", r.Duration, want)
	}
	if lost := sentA - (want - partB.Seconds()); drain && lost > 0.6 {
		t.Errorf("lost %.2f s at the drain: want nothing but the jitter buffers", lost)
	} else if lost > 4.5+0.5 {
		t.Errorf("lost %.2f s at the cut: want at most the chunk in flight (4 s chunks)", lost)
	}
	if strings.HasPrefix(r.HLSURL, "http") { // S3: the bucket is private, the playlists are there
		for _, key := range []string{transcode.MasterKey(rec.ID), "rec/" + rec.ID + "/" + r.Renditions[0] + "/index.m3u8"} {
			if !exists(t, st, key) {
				t.Errorf("%s not in storage", key)
			}
		}
	} else {
		checkSeamHLS(t, b.Base+r.HLSURL, r, want)
	}
	if !strings.Contains(r.HLSURL, rec.ID) {
		t.Errorf("hls %s", r.HLSURL)
	}
}

// checkSeamHLS probes every rendition of a recording made of two parts: duration want ± 1 s,
// video and audio, and no gap longer than 0.25 s — at the seam the second part's audio may
// start a little after its first keyframe (the reconnected publisher's first audio packets),
// which checkHLS's 0.1 s for one broadcast does not allow.
func checkSeamHLS(t *testing.T, master string, r catalog.Recording, want float64) {
	t.Helper()
	for _, name := range r.Renditions {
		rep, err := testmedia.Probe(strings.TrimSuffix(master, "master.m3u8") + name + "/index.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", name, rep)
		if !rep.Video || !rep.Audio || rep.Duration < want-1 || rep.Duration > want+1 {
			t.Errorf("%s: video %v audio %v duration %.2f s, want %.2f ± 1", name, rep.Video, rep.Audio, rep.Duration, want)
		}
		if rep.MaxVideoGap > 0.25 || rep.MaxAudioGap > 0.25 || rep.AVOffset > 0.1 || rep.AVOffset < -0.1 {
			t.Errorf("%s: gaps video %.3f s audio %.3f s, A/V offset %.3f s", name, rep.MaxVideoGap, rep.MaxAudioGap, rep.AVOffset)
		}
	}
}

// stateEndOfA is the timeline end of A's archived chunks (their done markers' start + duration).
func stateEndOfA(t *testing.T, st storage.Storage, id string, n int) float64 {
	t.Helper()
	end := 0.0
	for i := 0; i < n; i++ {
		rc, err := st.Get(context.Background(), transcode.ChunkDoneKey(id, i))
		if err != nil {
			continue
		}
		var c struct {
			Start, Duration float64
		}
		_ = json.NewDecoder(rc).Decode(&c)
		_ = rc.Close()
		end = max(end, c.Start+c.Duration)
	}
	return end
}

func exists(t *testing.T, st storage.Storage, key string) bool {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		return false
	}
	_ = rc.Close()
	return true
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
