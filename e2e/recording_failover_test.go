package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// recNode is one real `relaycast serve` process that records.
type recNode struct {
	url, data string
	args      []string
	cmd       *exec.Cmd
	logPath   string
}

func (n *recNode) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := n.cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		logf.Close()
	})
	waitHTTP(t, n.url+"/readyz")
}

func (n *recNode) log(t *testing.T) string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// TestRecordingFailoverKill: a real `relaycast serve` (node A) is killed with SIGKILL while a
// seller broadcasts; the seller publishes the same room to a second `serve` (node B) sharing
// Redis, the VOD storage (S3 with RELAYCAST_TEST_S3, else one directory) and the catalog (B's
// catalog.db is a symbolic link to A's SQLite file: the SQLite catalog is per data directory;
// --catalog-url would share a PostgreSQL one, which this test does not need). The catalog ends
// with ONE recording, ready, made of A's chunks then B's; B's part starts after the indices and
// the timeline A may have had on its disk (archive/continue_inflight.go). A restarted later finds
// its chunk in flight on disk (cut by the kill): its reconciler uploads it into the hole the
// takeover left, and the recording becomes ready again with it: the media lost at the kill
// (from the end of what A's disk had to the kill) must be at most 0.5 s, and the HLS (ffprobe)
// holds video and audio over the whole duration with no gap but the seam's (B's timeline starts
// past the media A can have written). Then A is killed in another room and nobody goes on: B
// finishes that orphan after the grace.
func TestRecordingFailoverKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, kills and restarts server processes, transcodes (skipped with -short)")
	}
	needFFmpeg(t)
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	redisURL := testserver.RedisURL(t, 9)
	const secret = "recfail-secret-0123456789abcdef"
	const chunk, grace = 3 * time.Second, 8 * time.Second
	cfg := config.Default()
	var storeArgs []string
	if ep := os.Getenv("RELAYCAST_TEST_S3"); ep != "" {
		_, inBucket := testserver.S3Bucket(t, "recfail") // sets the AWS credentials for the children too
		inBucket(&cfg)
		storeArgs = []string{"--s3-bucket", cfg.S3Bucket, "--s3-endpoint", ep, "--s3-path-style", "--s3-prefix", cfg.S3Prefix}
	} else {
		cfg.StorageDir = t.TempDir()
		storeArgs = []string{"--storage-dir", cfg.StorageDir}
	}
	st, _, err := archive.OpenStorage(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string) *recNode {
		dir := t.TempDir()
		port := freeTCPPort(t)
		n := &recNode{url: "http://127.0.0.1:" + strconv.Itoa(port), data: filepath.Join(dir, "data"), logPath: filepath.Join(dir, name+".log")}
		n.args = append([]string{"serve", "--http", "127.0.0.1:" + strconv.Itoa(port), "--ice-udp-port", "0", "--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off",
			"--data-dir", n.data, "--auth-secret", secret, "--redis-url", redisURL, "--chunk-duration", chunk.String(),
			"--reconnect-grace", grace.String(), "--workers", "1", "--log-level", "debug"}, storeArgs...)
		return n
	}
	a, b := node("a"), node("b")
	a.start(t, bin)
	if err := os.MkdirAll(b.data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(a.data, "catalog.db"), filepath.Join(b.data, "catalog.db")); err != nil {
		t.Fatal(err)
	}
	b.start(t, bin)
	defer func() {
		if t.Failed() {
			t.Logf("--- A ---\n%s\n--- B ---\n%s", tail(a.log(t), 60), tail(b.log(t), 60))
		}
	}()

	var publishRoom func(url, room string, d time.Duration) (*client.FilePublisher, string)
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	const room = "failover"
	tok, _ := signer.Issue(auth.AnyRoom, []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	publish := func(url string, d time.Duration) (*client.FilePublisher, string) {
		return publishRoom(url, room, d)
	}
	publishRoom = func(url, room string, d time.Duration) (*client.FilePublisher, string) {
		v, au := clip(t, d)
		pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: au})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		var loc string
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := pub.Connect(ctx, client.WHIP(nil, url+"/whip/"+room, tok, &loc)); err != nil {
			t.Fatal(err)
		}
		return pub, loc
	}

	const partB = 8 * time.Second
	clip(t, partB) // made now: B's publish must come within the grace
	pubA, _ := publish(a.url, 20*time.Second)
	rec := waitRec(t, a.url, func(r catalog.Recording) bool { return r.Status == catalog.StatusRecording }, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(7800 * time.Millisecond))) // two chunks archived, the third in flight
	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	_ = pubA.Close()
	sentA := killed.Sub(rec.StartedAt).Seconds()

	// The seller's page reconnects (here: at once, to the other node).
	pubB, locB := publish(b.url, partB)
	select {
	case <-pubB.Done():
	case <-time.After(partB + 10*time.Second):
		t.Fatal("publisher B did not finish")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = client.Delete(ctx, nil, locB, tok)
	cancel()

	// B's part starts on the timeline after what A may have had on its disk.
	onB := chunksOnDisk(t, b.data, rec.ID)
	if len(onB) == 0 {
		t.Fatal("no chunk of the recording on B's disk")
	}
	firstB := onB[0]
	aEnd, archivedA := 0.0, 0
	for i := 0; i < firstB.Index; i++ {
		if c, ok := doneMarker(t, st, rec.ID, i); ok {
			aEnd, archivedA = max(aEnd, c.Start+c.Duration), archivedA+1
		}
	}
	want := aEnd + partB.Seconds()
	if firstB.Audio != nil && firstB.Video != nil {
		t.Logf("B's first chunk: video from %.3f s, audio from %.3f s after its start (the seam)", firstB.Video.Offset, firstB.Audio.Offset)
	}
	r := waitRec(t, b.url, func(r catalog.Recording) bool { return r.Status == catalog.StatusReady && r.Duration > want-1 }, 90*time.Second)
	onA := chunksOnDisk(t, a.data, rec.ID)
	lost := sentA - aEnd
	t.Logf("SIGKILL %.2f s after the recording started; A's disk has chunks %v, %d of A's part archived up to %.2f s on the timeline; B's part from chunk %d at %.2f s; lost at the kill %.2f s (chunk %v s); ready %.2f s, want %.2f",
		sentA, indices(onA), archivedA, aEnd, firstB.Index, firstB.Start, lost, chunk.Seconds(), r.Duration, want)
	if lost > chunk.Seconds()+1.5 || lost < -0.2 {
		t.Errorf("lost %.2f s at the kill: want at most the chunk in flight (%v) and its upload", lost, chunk)
	}
	if firstB.Start < aEnd-0.05 {
		t.Errorf("B's part starts at %.2f s, before A's archived end %.2f s", firstB.Start, aEnd)
	}
	if d := r.Duration - want; d > 1 || d < -1 {
		t.Errorf("duration %.2f s, want %.2f ± 1", r.Duration, want)
	}
	var page catalog.Page
	getJSONE2E(t, b.url+"/api/recordings", &page)
	n := 0
	for _, x := range page.Recordings {
		if x.Room == room {
			n++
		}
	}
	if n != 1 || r.ID != rec.ID {
		t.Fatalf("%d recordings of the room (want 1, id %s): %+v", n, rec.ID, page.Recordings)
	}
	if firstB.Index <= archivedA || firstB.Start < aEnd+0.5 {
		t.Errorf("B's part from chunk %d at %.2f s: want the index and timeline of A's chunk in flight (after %d, %.2f s) left free",
			firstB.Index, firstB.Start, archivedA, aEnd)
	}
	if _, ok := doneMarker(t, st, rec.ID, firstB.Index); !ok {
		t.Errorf("B's first chunk not in storage")
	}

	// A comes back: its reconciler finds its interrupted part on disk. Its chunk in flight is
	// in A's part (a hole): uploaded, transcoded, and the recording is ready again with it.
	a.start(t, bin)
	after := waitRec(t, a.url, func(x catalog.Recording) bool {
		return x.ID == rec.ID && x.Status == catalog.StatusReady && x.Duration > r.Duration+0.5
	}, 60*time.Second)
	recEnd, recovered := aEnd, 0
	for i := archivedA; i < firstB.Index; i++ {
		if c, ok := doneMarker(t, st, rec.ID, i); ok {
			recEnd, recovered = max(recEnd, c.Start+c.Duration), recovered+1
		}
	}
	lostAfter := sentA - recEnd
	t.Logf("after A's restart: %s, %.2f s (was %.2f s); %d chunk(s) of A recovered, A's media up to %.2f s on the timeline: lost at the kill %.2f s (was %.2f s); seam %.2f s",
		after.Status, after.Duration, r.Duration, recovered, recEnd, lostAfter, lost, firstB.Start-recEnd)
	if recovered == 0 || lostAfter > 0.5 || lostAfter < -0.2 {
		t.Errorf("lost %.2f s at the kill after A's restart (%d chunks recovered): want at most 0.5 s", lostAfter, recovered)
	}
	if strings.Contains(a.log(t), "chunk dropped") {
		t.Errorf("A dropped a chunk of its own part:\n%s", tail(a.log(t), 30))
	}
	wantAfter := recEnd + partB.Seconds()
	if d := after.Duration - wantAfter; d > 1 || d < -1 || after.HLSURL != r.HLSURL {
		t.Errorf("after A's restart: duration %.2f s, want %.2f ± 1; HLS %s (was %s)", after.Duration, wantAfter, after.HLSURL, r.HLSURL)
	}
	if !strings.HasPrefix(after.HLSURL, "http") { // S3: the bucket is private
		checkSeamHLS(t, hlsURL(b.url, after.HLSURL), after, wantAfter, firstB.Start-recEnd)
	}

	// A is killed again mid-show in another room and nobody goes on: once the grace is over,
	// B finishes the orphan (its sweep) with A's archived chunks.
	const lone = "lone"
	pubL, _ := publishRoom(a.url, lone, 20*time.Second)
	recL := waitRec(t, a.url, func(r catalog.Recording) bool { return r.Room == lone && r.Status == catalog.StatusRecording }, 10*time.Second)
	time.Sleep(time.Until(recL.StartedAt.Add(7800 * time.Millisecond)))
	killedL := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	_ = pubL.Close()
	rl := waitRec(t, b.url, func(r catalog.Recording) bool { return r.ID == recL.ID && r.Status == catalog.StatusReady }, grace+60*time.Second)
	t.Logf("orphan: SIGKILL %.2f s into the show, nobody went on; B finished it %.2f s after the kill: ready, %.2f s (lost %.2f s)",
		killedL.Sub(recL.StartedAt).Seconds(), time.Since(killedL).Seconds(), rl.Duration, killedL.Sub(recL.StartedAt).Seconds()-rl.Duration)
	if lostL := killedL.Sub(recL.StartedAt).Seconds() - rl.Duration; lostL > chunk.Seconds()+2.5 || lostL < -0.2 {
		t.Errorf("orphan lost %.2f s", lostL)
	}
	if !strings.Contains(b.log(t), "nobody went on: finishing it") {
		t.Error("B's log does not say it finished the orphan")
	}
}

// checkSeamHLS probes every rendition of a recording made of two parts: duration want ± 1 s,
// video and audio, and no gap longer than 0.25 s — at the seam the second part's audio may
// start a little after its first keyframe (the reconnected publisher's first audio packets),
// which CheckHLS's 0.1 s for one broadcast does not allow — beside the seam's jump of the
// timeline (a takeover after a kill: seam seconds, marked by a discontinuity in the playlist;
// ffprobe reads through it as a gap, its duration is the playlist's). With a seam, the dead
// node's audio may end up to its hold (0.4 s) before its video: 0.4 s more.
func checkSeamHLS(t *testing.T, master string, r catalog.Recording, want, seam float64) {
	t.Helper()
	if seam > 0 {
		seam += 0.4
	}
	seam += 0.25
	for _, name := range r.Renditions {
		rep, err := testmedia.Probe(strings.TrimSuffix(master, "master.m3u8") + name + "/index.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", name, rep)
		if !rep.Video || !rep.Audio || rep.Duration < want-1 || rep.Duration > want+1 {
			t.Errorf("%s: video %v audio %v duration %.2f s, want %.2f ± 1", name, rep.Video, rep.Audio, rep.Duration, want)
		}
		if rep.MaxVideoGap > seam || rep.MaxAudioGap > seam || rep.AVOffset > 0.1 || rep.AVOffset < -0.1 {
			t.Errorf("%s: gaps video %.3f s audio %.3f s, A/V offset %.3f s", name, rep.MaxVideoGap, rep.MaxAudioGap, rep.AVOffset)
		}
	}
}

func hlsURL(base, u string) string {
	if strings.HasPrefix(u, "http") {
		return u
	}
	return base + u
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func getJSONE2E(t *testing.T, url string, v any) {
	t.Helper()
	if code := testserver.GetJSON(t, url, "", v); code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
}

// waitRec polls the node's recordings until one satisfies ok.
func waitRec(t *testing.T, url string, ok func(catalog.Recording) bool, timeout time.Duration) catalog.Recording {
	t.Helper()
	var last catalog.Page
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var page catalog.Page
		if testserver.GetJSON(t, url+"/api/recordings", "", &page) == 200 {
			last = page
			for _, r := range page.Recordings {
				if ok(r) {
					return r
				}
			}
		}
	}
	t.Fatalf("no such recording within %v: %+v", timeout, last)
	return catalog.Recording{}
}

// chunksOnDisk lists the chunks (with media) a node's data directory holds of recording id.
func chunksOnDisk(t *testing.T, data, id string) []recorder.ChunkInfo {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(data, "recordings", id, "c*", "chunk.json"))
	var out []recorder.ChunkInfo
	for _, f := range files { // c000000, c000001, …: index order
		var c recorder.ChunkInfo
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &c) == nil && (c.Video != nil || c.Audio != nil) {
			out = append(out, c)
		}
	}
	return out
}

func indices(cs []recorder.ChunkInfo) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprint(c.Index))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// doneMarker reads chunk i's done marker (rec/ID/chunks/N.json) from storage.
func doneMarker(t *testing.T, st storage.Storage, id string, i int) (struct{ Start, Duration float64 }, bool) {
	t.Helper()
	var c struct{ Start, Duration float64 }
	rc, err := st.Get(context.Background(), transcode.ChunkDoneKey(id, i))
	if err != nil {
		return c, false
	}
	defer rc.Close()
	return c, json.NewDecoder(rc).Decode(&c) == nil
}
