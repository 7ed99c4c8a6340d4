package archive_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/storage"
)

// TestArchiveStorageBack: S3 is down while a show is recorded, long enough for the uploads to
// be given up on (the recording is failed, "tried again later"); then S3 comes up. The node
// retries by itself, without a restart: the recording becomes ready. Before storeretry.go only a
// restart retried a failed recording (found by the chaos run, docs/RELIABILITY.md "Chaos").
func TestArchiveStorageBack(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("waits for retries (skipped with -short)")
	}
	gw := filepath.Join(os.Getenv("HOME"), "go", "bin", "versitygw")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gw = filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
	}
	if _, err := os.Stat(gw); err != nil {
		t.Skipf("needs versitygw: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port nobody listens on, until versitygw does
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const access, secret, bucket = "backaccess", "backsecret0123456789", "back"
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	cfg := testserver.Config(t)
	cfg.ChunkDuration, cfg.Workers = 4*time.Second, 1
	cfg.S3Bucket, cfg.S3Endpoint, cfg.S3PathStyle = bucket, "http://"+addr, true
	s := testserver.RunArchive(t, server.Params{Config: cfg, Stdout: io.Discard, ArchiveTuning: archive.Tuning{PollInterval: 50 * time.Millisecond, JobAttempts: 2}})
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "shop", 6*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	r := waitStatus(t, events, rec.ID, catalog.StatusFailed, 60*time.Second)
	<-pub.Done()
	stop()
	if r.Error != archive.MsgStoreFailed {
		t.Fatalf("failed with %q, want %q", r.Error, archive.MsgStoreFailed)
	}

	// S3 comes up.
	cmd := exec.Command(gw, "--port", addr, "--access", access, "--secret", secret, "posix", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, err := storage.NewS3(context.Background(), storage.S3Params{Bucket: bucket, Endpoint: "http://" + addr, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create bucket: %v", err)
		}
	}
	up := time.Now()
	var ready catalog.Recording
	for deadline := time.Now().Add(60 * time.Second); ready.Status != catalog.StatusReady; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("recording not ready 60 s after S3 came up: %s %q", ready.Status, ready.Error)
		}
		ready, _ = s.Archive().Catalog().Get(context.Background(), rec.ID)
	}
	t.Logf("ready %.1f s after S3 came up, %.2f s", time.Since(up).Seconds(), ready.Duration)
	if ready.Duration < 5 {
		t.Errorf("ready with %.2f s, want the 6 s broadcast", ready.Duration)
	}
}
