package archive_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/recorder"
)

const procSecret = "proc-secret-0123456789abcdef"

// binary builds cmd/relaycast into the test's temporary directory (go build's cache makes a
// rebuild quick) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", path, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc runs the relaycast binary; its output goes to a log file shown when the test fails.
func proc(t *testing.T, bin, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		_ = f.Close()
		if t.Failed() || os.Getenv("RELAYCAST_TEST_LOG") != "" {
			b, _ := os.ReadFile(logf)
			t.Logf("--- %s log ---\n%s", name, b)
		}
	})
	return cmd
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func serveArgs(dataDir string, port int, extra ...string) []string {
	return append([]string{"serve", "--http", "127.0.0.1:" + strconv.Itoa(port), "--ice-udp-port", "0", "--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off",
		"--data-dir", dataDir, "--auth-secret", procSecret, "--chunk-duration", "4s", "--log-level", "debug"}, extra...)
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url + "/readyz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

// pollRecording polls the API until the only recording has the status.
func pollRecording(t *testing.T, url string, status catalog.Status, timeout time.Duration) catalog.Recording {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last catalog.Page
	for time.Now().Before(deadline) {
		var page catalog.Page
		if getJSON(t, url+"/api/recordings", "", &page) == 200 {
			last = page
			if len(page.Recordings) == 1 && page.Recordings[0].Status == status {
				return page.Recordings[0]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no recording %s within %v: %+v", status, timeout, last)
	return catalog.Recording{}
}

func procSigner(t *testing.T) *auth.Signer {
	s, err := auth.NewSigner([]byte(procSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKillServerMidBroadcast: SIGKILL the server 10 s into a broadcast; after a restart on the
// same data directory the reconciler archives the recording up to the kill.
func TestKillServerMidBroadcast(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("kills processes and transcodes (skipped with -short)")
	}
	bin := binary(t)
	dir := t.TempDir()
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	a := proc(t, bin, "serve-a", serveArgs(dir, port)...)
	waitReady(t, url)
	pub, _ := publishTo(t, url, procSigner(t), "shop", 20*time.Second)
	began := time.Now()
	pollRecording(t, url, catalog.StatusRecording, 5*time.Second)
	time.Sleep(10*time.Second - time.Since(began))
	killedAt := time.Now()
	kill9(t, a)
	sent := killedAt.Sub(began).Seconds()
	_ = pub.Close()

	b := proc(t, bin, "serve-b", serveArgs(dir, port)...)
	_ = b
	waitReady(t, url)
	restarted := time.Now()
	r := pollRecording(t, url, catalog.StatusReady, 60*time.Second)
	// The recording starts at the first keyframe the recorder sees (a file cannot answer the
	// keyframe request, so up to one GOP of the start may be missing); what matters is what was
	// lost at the end: the media between the last archived frame and the kill.
	var c0 recorder.ChunkInfo
	if b, err := os.ReadFile(filepath.Join(dir, "recordings", r.ID, "c000000", "chunk.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &c0); err != nil {
		t.Fatal(err)
	}
	lost := killedAt.Sub(r.StartedAt).Seconds() - (c0.Start + r.Duration)
	t.Logf("SIGKILL after %.2f s of broadcast: archived %.2f s from %.2f s on, %.2f s lost at the kill; ready %.2f s after the restart",
		sent, r.Duration, c0.Start, lost, time.Since(restarted).Seconds())
	if lost > 2 || lost < -0.2 {
		t.Errorf("lost %.2f s at the kill", lost)
	}
	checkHLS(t, url+r.HLSURL, r, r.Duration, 0.5)
}

func flushRedis(t *testing.T, url string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestRedisFlushed: every queued job is lost with a wiped Redis; the reconciler (at the next
// start) re-enqueues the recording from disk and it is archived in full.
func TestRedisFlushed(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes (skipped with -short)")
	}
	rurl := testRedisURL(t, 7)
	dataDir := t.TempDir()
	// No workers: jobs wait in Redis.
	s := startArchive(t, func(c *config.Config) { c.DataDir, c.RedisURL, c.Workers = dataDir, rurl, 0 })
	events := sse(t, s.Base)
	_, stop := s.PublishFile(t, "shop", 8*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(8 * time.Second)
	stop()
	waitStatus(t, events, rec.ID, catalog.StatusProcessing, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // uploads + enqueues done
	flushRedis(t, rurl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	_ = s.Shutdown(ctx)
	cancel()

	s2 := startArchive(t, func(c *config.Config) { c.DataDir, c.RedisURL, c.Workers = dataDir, rurl, 2 })
	r := pollRecording(t, s2.Base, catalog.StatusReady, 60*time.Second)
	s2.CheckArchive(t, r, 8)
}

// TestKillWorkerMidJob: SIGKILL a `relaycast worker` while it transcodes; the job's lease
// expires, another worker takes it and the recording is archived, every chunk once.
func TestKillWorkerMidJob(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("kills a worker and waits for its lease to expire (skipped with -short)")
	}
	rurl := testRedisURL(t, 8)
	bin := binary(t)
	s := startArchive(t, func(c *config.Config) { c.RedisURL, c.Workers = rurl, 0 })
	events := sse(t, s.Base)
	wargs := []string{"worker", "--redis-url", rurl, "--data-dir", s.Config.DataDir, "--workers", "1", "--log-level", "debug"}
	w1 := proc(t, bin, "worker-1", wargs...)
	_, stop := s.PublishFile(t, "shop", 8*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	// Kill the worker as soon as it reports progress on a chunk.
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case e := <-events:
			if e.Type == "progress" && e.ID == rec.ID {
				break wait
			}
		case <-deadline:
			t.Fatal("worker never started a job")
		}
	}
	kill9(t, w1)
	killed := time.Now()
	time.Sleep(time.Until(rec.StartedAt.Add(9 * time.Second)))
	stop()
	// The dead worker's short job lease (transcode/lease.go, 6 s) lapses and worker-2 takes the
	// job over; asynq's own 30 s lease would take 60–120 s.
	proc(t, bin, "worker-2", wargs...)
	// Count chunk completions until ready: each chunk exactly once.
	done := map[int]int{}
	var r catalog.Recording
	timeout := time.After(60 * time.Second)
	for r.Status != catalog.StatusReady {
		select {
		case e := <-events:
			if e.ID != rec.ID {
				continue
			}
			switch e.Type {
			case "progress":
				var p struct {
					Chunk int    `json:"chunk"`
					Kind  string `json:"kind"`
				}
				if json.Unmarshal(e.Data, &p) == nil && p.Kind == "chunk" {
					done[p.Chunk]++
				}
			case "recording":
				_ = json.Unmarshal(e.Data, &r)
				if r.Status == catalog.StatusFailed {
					t.Fatalf("failed: %s", r.Error)
				}
			}
		case <-timeout:
			t.Fatal("not ready after the second worker started")
		}
	}
	t.Logf("ready %.1f s after the worker was killed; chunk completions after the kill: %v", time.Since(killed).Seconds(), done)
	for i, n := range done {
		if n != 1 {
			t.Errorf("chunk %d done %d times", i, n)
		}
	}
	s.CheckArchive(t, r, 8)
	rep, _ := testmedia.Probe(s.Base + r.HLSURL)
	t.Logf("after worker kill: %+v", rep)
}
