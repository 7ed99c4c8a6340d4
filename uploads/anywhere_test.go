package uploads_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/pgtest"
	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/transcode"
)

// TestWorkerAnywhere: a `relaycast worker` process that shares nothing with the server but
// Redis, S3 and the PostgreSQL catalog (its own --data-dir, no disk in common) finishes every
// kind of job: a live recording's chunks and finalization, a direct upload and a URL import
// all become ready. The server runs no workers of its own, so every job is the worker's.
func TestWorkerAnywhere(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video in a separate worker process (skipped with -short)")
	}
	// A redis-server of its own: a database number of the shared test Redis is also flushed by
	// other packages' tests running at the same time (and its pub/sub channels are shared).
	addr, _ := redistest.Own(t)
	rurl := "redis://" + addr + "/0"
	st, inBucket := testserver.S3Bucket(t, "anywhere")
	pg := pgtest.URL(t)
	src := mediaServer(t)
	s := startArchive(t, func(c *config.Config) {
		inBucket(c)
		c.RedisURL, c.CatalogURL, c.Workers = rurl, pg, 0
		c.ImportAllowLoopback, c.ImportMaxBytes = true, 50<<20
	})
	if _, ok := s.Archive().Catalog().(*catalog.Postgres); !ok {
		t.Fatalf("the server's catalog is a %T, want PostgreSQL", s.Archive().Catalog())
	}
	workDir := t.TempDir()
	w := workerProc(t, workDir, "worker", "--redis-url", rurl, "--catalog-url", pg, "--data-dir", workDir, "--workers", "1",
		"--s3-bucket", s.Config.S3Bucket, "--s3-endpoint", s.Config.S3Endpoint, "--s3-path-style", "--s3-prefix", s.Config.S3Prefix,
		"--log-level", "debug")
	events := sse(t, s.Base)

	// A live recording: chunks transcoded, then finalized, by the worker.
	_, stop := s.PublishFile(t, "shop", 6*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(6 * time.Second)))
	stop()
	// A direct upload (presigned S3 parts) and a URL import, queued meanwhile.
	file := mediaFile(t, testmedia.FileParams{Path: filepath.Join(t.TempDir(), "up.mp4"), Duration: 3 * time.Second})
	upID, _ := uploadFile(t, s, "shop", file)
	code, msg, impID := startImport(t, s, s.Token(t, auth.AnyRoom, auth.GrantAdmin), src.URL+"/clip.mp4")
	if code != http.StatusAccepted {
		t.Fatalf("import: %d %q", code, msg)
	}

	ready := map[string]catalog.Recording{}
	for _, id := range []string{rec.ID, upID, impID} {
		ready[id] = waitStatus(t, events, id, catalog.StatusReady, 180*time.Second)
	}
	local, _ := mirror(t, st, s.Archive().Store(), s.Config.S3Bucket, "")
	for id, want := range map[string]float64{rec.ID: 6, upID: 3, impID: 3} {
		probeRenditions(t, filepath.Join(local, transcode.MasterKey(id)), ready[id], want, true)
	}
	// The catalog in PostgreSQL says so, to any node that opens it.
	other, err := catalog.OpenPostgres(context.Background(), catalog.PostgresParams{URL: pg})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for id, source := range map[string]string{rec.ID: catalog.SourceLive, upID: catalog.SourceUpload, impID: catalog.SourceImport} {
		if r, err := other.Get(context.Background(), id); err != nil || r.Status != catalog.StatusReady || r.Source != source {
			t.Errorf("%s in PostgreSQL: %+v %v, want ready, source %s", id, r, err, source)
		}
	}
	// The worker wrote nothing to the server's disk and kept no state of its own.
	if ents, _ := os.ReadDir(filepath.Join(workDir, "recordings")); len(ents) > 0 {
		t.Errorf("the worker has recordings on its disk: %d", len(ents))
	}
	if w.ProcessState != nil {
		t.Fatalf("the worker exited: %v", w.ProcessState)
	}
}

// workerProc runs the relaycast binary (built into the test's temporary directory) in dir; its
// output goes to a log shown when the test fails. It is stopped with SIGTERM when the test ends.
func workerProc(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	logf := filepath.Join(t.TempDir(), "worker.log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = f.Close()
		if t.Failed() || os.Getenv("RELAYCAST_TEST_LOG") != "" {
			b, _ := os.ReadFile(logf)
			t.Logf("--- worker (pid %s) log ---\n%s", strconv.Itoa(cmd.Process.Pid), b)
		}
	})
	return cmd
}
