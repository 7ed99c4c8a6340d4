package server

import (
	"strings"
	"testing"

	"github.com/relaycast/relaycast/config"
)

// TestMediaOrigins: the pages may load the VOD from the S3/CDN origin, and only from it.
func TestMediaOrigins(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(*config.Config)
		want string
	}{
		{"local storage", func(c *config.Config) {}, ""},
		{"public URL", func(c *config.Config) {
			c.S3Bucket, c.S3PublicURL, c.S3Endpoint = "vod", "https://cdn.example.com/vod/", "http://minio:9000"
		}, "https://cdn.example.com"},
		{"endpoint", func(c *config.Config) { c.S3Bucket, c.S3Endpoint = "vod", "http://127.0.0.1:9000" }, "http://127.0.0.1:9000"},
		{"aws", func(c *config.Config) { c.S3Bucket, c.S3Region = "vod", "eu-west-1" }, "https://vod.s3.eu-west-1.amazonaws.com"},
		{"recording off", func(c *config.Config) { c.Record, c.S3Bucket = false, "vod" }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			c.cfg(&cfg)
			got := strings.Join(mediaOrigins(cfg), " ")
			if got != c.want {
				t.Errorf("mediaOrigins = %q, want %q", got, c.want)
			}
		})
	}
}
