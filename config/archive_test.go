package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestArchiveSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--chunk-duration", "6s", "--redis-url", "redis://127.0.0.1:6379/2", "--workers", "0",
		"--s3-bucket", "vod", "--s3-endpoint", "http://127.0.0.1:7070", "--s3-path-style", "--retention", "0s"},
		envMap(map[string]string{"RELAYCAST_S3_PREFIX": "p/", "RELAYCAST_CHUNK_DURATION": "20s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ChunkDuration != 6*time.Second || c.RedisURL != "redis://127.0.0.1:6379/2" || c.Workers != 0 || c.S3Bucket != "vod" ||
		!c.S3PathStyle || c.S3Prefix != "p/" || c.Retention != 0 {
		t.Fatalf("%+v", c.Archive)
	}
	if c.VODDir() != filepath.Join("data", "vod") || c.RecordingsDir() != filepath.Join("data", "recordings") {
		t.Fatal(c.VODDir(), c.RecordingsDir())
	}
}

func TestArchiveValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Archive)
		flag   string
	}{
		{"chunk too short", func(a *Archive) { a.ChunkDuration = time.Second }, "--chunk-duration"},
		{"chunk too long", func(a *Archive) { a.ChunkDuration = time.Hour }, "--chunk-duration"},
		{"bad redis", func(a *Archive) { a.RedisURL = "http://x" }, "--redis-url"},
		{"no workers, no redis", func(a *Archive) { a.Workers = 0 }, "--workers"},
		{"negative workers", func(a *Archive) { a.Workers = -1 }, "--workers"},
		{"bad endpoint", func(a *Archive) { a.S3Bucket, a.S3Endpoint = "b", "ftp://x" }, "--s3-endpoint"},
		{"endpoint without bucket", func(a *Archive) { a.S3Endpoint = "http://x" }, "--s3-bucket"},
		{"negative retention", func(a *Archive) { a.Retention = -time.Second }, "--retention"},
		{"zero upload size", func(a *Archive) { a.UploadMaxBytes = 0 }, "--upload-max-bytes"},
		{"tiny part", func(a *Archive) { a.UploadPartSize = 1000 }, "--upload-part-size"},
		{"part below the S3 minimum", func(a *Archive) { a.S3Bucket, a.UploadPartSize = "b", 1<<20 }, "--upload-part-size"},
		{"too many parts", func(a *Archive) { a.UploadMaxBytes, a.UploadPartSize = 1<<40, 64<<10 }, "--upload-part-size"},
		{"short ttl", func(a *Archive) { a.UploadTTL = time.Second }, "--upload-ttl"},
		{"long ttl", func(a *Archive) { a.UploadTTL = 48 * time.Hour }, "--upload-ttl"},
		{"zero import size", func(a *Archive) { a.ImportMaxBytes = 0 }, "--import-max-bytes"},
		{"zero import timeout", func(a *Archive) { a.ImportTimeout = 0 }, "--import-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c.Archive)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("%v, want an error naming %s", err, tt.flag)
			}
		})
	}
}

func TestUploadSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--upload-max-bytes", "512MiB", "--upload-ttl", "10m"},
		envMap(map[string]string{"RELAYCAST_UPLOAD_PART_SIZE": "8mb", "RELAYCAST_IMPORT_MAX_BYTES": "1048576", "RELAYCAST_IMPORT_TIMEOUT": "5m"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadMaxBytes != 512<<20 || c.UploadPartSize != 8<<20 || c.UploadTTL != 10*time.Minute || c.ImportMaxBytes != 1<<20 ||
		c.ImportTimeout != 5*time.Minute || c.ImportAllowLoopback {
		t.Fatalf("%+v", c.Archive)
	}
	d := Default()
	if d.UploadMaxBytes != 4<<30 || d.UploadPartSize != 32<<20 || d.UploadTTL != time.Hour {
		t.Fatalf("defaults %+v", d.Archive)
	}
	for _, bad := range []string{"lots", "-1", "1.5GiB", "9999999TiB"} {
		if _, err := Load(newFS(), []string{"--upload-max-bytes", bad}, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "upload-max-bytes") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
