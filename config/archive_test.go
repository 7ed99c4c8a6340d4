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
