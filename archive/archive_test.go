package archive_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/transcode"
)

// TestArchiveEndToEnd: publish a real clip over WHIP; the recording becomes an HLS ladder in
// storage, listed in the API, announced over SSE; edit and delete work with the right tokens.
func TestArchiveEndToEnd(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	const dur = 12 * time.Second
	s := startArchive(t, nil)
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "shop", dur)
	started := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	select {
	case <-pub.Done():
	case <-time.After(dur + 10*time.Second):
		t.Fatal("publisher did not finish")
	}
	ended := stop()
	r := waitStatus(t, events, started.ID, catalog.StatusReady, 60*time.Second)
	t.Logf("VOD ready %.2f s after the broadcast ended (%.0f s broadcast)", time.Since(ended).Seconds(), dur.Seconds())
	s.CheckArchive(t, r, dur.Seconds())

	var page catalog.Page
	if code := getJSON(t, s.Base+"/api/recordings?limit=5", "", &page); code != 200 || len(page.Recordings) != 1 || page.Recordings[0].ID != r.ID {
		t.Fatalf("list: %d %+v", code, page)
	}
	var got catalog.Recording
	if code := getJSON(t, s.Base+"/api/recordings/"+r.ID, "", &got); code != 200 || got.Status != catalog.StatusReady || got.Room != "shop" {
		t.Fatalf("get: %d %+v", code, got)
	}
	if got.Seller != "seller-shop" {
		t.Errorf("seller = %q, want the publish token's subject", got.Seller)
	}
	if code := getJSON(t, s.Base+"/api/recordings/nope", "", nil); code != 404 {
		t.Fatalf("get unknown: %d", code)
	}
	patches := []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"other room", s.Token(t, "other", auth.GrantPublish), 403},
		{"viewer", s.Token(t, "shop", auth.GrantSubscribe), 403},
		{"publisher", s.Token(t, "shop", auth.GrantPublish), 200},
		{"admin", s.Token(t, auth.AnyRoom, auth.GrantAdmin), 200},
	}
	for _, p := range patches {
		if code := do(t, http.MethodPatch, s.Base+"/api/recordings/"+r.ID, p.token, `{"title":"Spring sale"}`); code != p.want {
			t.Errorf("patch as %s: %d, want %d", p.name, code, p.want)
		}
	}
	if getJSON(t, s.Base+"/api/recordings/"+r.ID, "", &got); got.Title != "Spring sale" {
		t.Errorf("title %q", got.Title)
	}
	if code := do(t, http.MethodDelete, s.Base+"/api/recordings/"+r.ID, s.Token(t, "shop", auth.GrantPublish), ""); code != 403 {
		t.Errorf("delete as publisher: %d", code)
	}
	if code := do(t, http.MethodDelete, s.Base+"/api/recordings/"+r.ID, s.Token(t, auth.AnyRoom, auth.GrantAdmin), ""); code != 204 {
		t.Fatalf("delete as admin: %d", code)
	}
	if code := getJSON(t, s.Base+r.HLSURL, "", nil); code != 404 {
		t.Errorf("master after delete: %d", code)
	}
	if _, err := os.Stat(filepath.Join(s.Config.RecordingsDir(), r.ID)); !os.IsNotExist(err) {
		t.Errorf("raw recording kept after delete: %v", err)
	}
	// Metrics carry the pipeline's numbers.
	res, err := http.Get(s.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, m := range []string{"relaycast_archive_queue_tasks{state=\"completed\"}", "relaycast_archive_chunks_transcoded_total 3", "relaycast_archive_recordings_ready_total 1", "relaycast_archive_chunk_job_seconds_count 3"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestArchiveS3: the same pipeline with S3 (versitygw) as storage.
func TestArchiveS3(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	st, inBucket := testserver.S3Bucket(t, "arch")
	s := startArchive(t, func(c *config.Config) {
		inBucket(c)
		c.S3PublicURL = "https://cdn.example.com/"
	})
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "shop", 8*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	<-pub.Done()
	stop()
	r := waitStatus(t, events, rec.ID, catalog.StatusReady, 60*time.Second)
	if want := "https://cdn.example.com/vod/rec/" + r.ID + "/master.m3u8"; r.HLSURL != want {
		t.Fatalf("HLS URL %q, want %q", r.HLSURL, want)
	}
	// Mirror the recording's objects and probe them locally.
	local, keys := mirror(t, st, s.Archive().Store(), s.Config.S3Bucket, "")
	var raw int
	for _, key := range keys {
		if strings.HasPrefix(key, "raw/") {
			raw++
		}
	}
	if raw != 0 {
		t.Errorf("%d raw objects left in the bucket", raw)
	}
	r.HLSURL = "/master.m3u8"
	checkHLS(t, filepath.Join(local, transcode.MasterKey(r.ID)), r, 8, 1)
}

// TestArchiveStorageDown: S3 unreachable → the uploads are retried, then the recording is marked
// failed with a clear error, and nothing is deleted locally.
func TestArchiveStorageDown(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("waits for retries (skipped with -short)")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	cfg := testserver.Config(t)
	cfg.ChunkDuration, cfg.Workers = 4*time.Second, 1
	cfg.S3Bucket, cfg.S3Endpoint, cfg.S3PathStyle = "b", "http://127.0.0.1:1", true
	s := testserver.RunArchive(t, server.Params{Config: cfg, Stdout: io.Discard, ArchiveTuning: archive.Tuning{PollInterval: 50 * time.Millisecond, JobAttempts: 3}})
	events := sse(t, s.Base)
	_, stop := s.PublishFile(t, "shop", 6*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	r := waitStatus(t, events, rec.ID, catalog.StatusFailed, 60*time.Second)
	stop()
	t.Logf("failure: %s", r.Error)
	if full, _ := s.Archive().Catalog().Get(context.Background(), rec.ID); r.Error != archive.MsgStoreFailed || !full.Retryable || !strings.Contains(full.Log, "127.0.0.1:1") {
		t.Errorf("error %q, log %q: does not say what failed", r.Error, full.Log)
	}
	files, _ := filepath.Glob(filepath.Join(cfg.RecordingsDir(), rec.ID, "c*", "video.ivf"))
	if len(files) == 0 {
		t.Fatal("raw chunks deleted locally")
	}
	// The disk still holds it for the reconciler (scanned once this server has let go of it).
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	if p, err := recorder.Scan(cfg.RecordingsDir(), nil); err != nil || len(p) != 1 {
		t.Fatalf("scan: %v %v", p, err)
	}
}

// TestShutdownWithOpenEventStream: an open /api/events stream does not hold up shutdown.
func TestShutdownWithOpenEventStream(t *testing.T) {
	srv := testserver.Start(t, nil)
	res, err := http.Get(srv.URL() + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

// TestArchiveReconnect: a publisher that reconnects within --reconnect-grace continues the same
// recording; the archive holds both parts, without the pause, as one VOD.
func TestArchiveReconnect(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	s := startArchive(t, func(c *config.Config) { c.ReconnectGrace = 10 * time.Second })
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "shop", 6*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	<-pub.Done()
	stop()
	time.Sleep(2 * time.Second)
	pub2, stop2 := s.PublishFile(t, "shop", 4*time.Second)
	<-pub2.Done()
	stop2()
	r := waitStatus(t, events, rec.ID, catalog.StatusReady, 60*time.Second)
	for r.Duration < 8 { // the first part may have become ready on its own before the reconnect
		r = waitStatus(t, events, rec.ID, catalog.StatusReady, 60*time.Second)
	}
	var page catalog.Page
	if getJSON(t, s.Base+"/api/recordings", "", &page); len(page.Recordings) != 1 {
		t.Fatalf("%d recordings, want 1", len(page.Recordings))
	}
	// 6 s + 4 s were sent. A file publisher cannot answer keyframe requests, so each part may
	// lose up to one GOP (1 s) at its start; no gap may appear where the pause was.
	if r.Duration < 8 || r.Duration > 10.5 {
		t.Errorf("duration %.2f s, want 8–10 s (10 s sent, at most one GOP lost per part)", r.Duration)
	}
	s.CheckArchive(t, r, r.Duration)
}
