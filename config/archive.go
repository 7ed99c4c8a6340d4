package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Archive holds the settings of recording and the VOD pipeline (recorder → queue → transcode →
// storage → catalog). It is embedded in Config, so its fields read as cfg.RedisURL etc.
type Archive struct {
	// Record turns recording of every live room on. --record, default true.
	Record bool
	// RedisURL is the Redis of the job queue and event fan-out ("redis://[:pass@]host:port[/db]").
	// Empty runs an in-process Redis-compatible server (miniredis): single node only, jobs are
	// held in memory (the reconciler re-enqueues them after a restart). --redis-url, default "".
	RedisURL string
	// Workers is the number of transcode jobs serve runs at once in-process; 0 runs none (use
	// `relaycast worker` elsewhere; needs --redis-url). --workers, default half the cores (min 1).
	Workers int
	// ChunkDuration is the length of recorded chunks (cut at the next keyframe), 2s..60s.
	// --chunk-duration, default 10s.
	ChunkDuration time.Duration
	// Retention is how long raw chunks stay on disk after their recording is archived.
	// 0 deletes them at once. --retention, default 24h.
	Retention time.Duration
	// StorageDir is the local VOD directory (served under /vod/) when S3Bucket is empty.
	// --storage-dir, default <data-dir>/vod.
	StorageDir string
	// S3Bucket stores the VOD in S3 instead of StorageDir. Credentials come from the usual AWS
	// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance role).
	// --s3-bucket, default "".
	S3Bucket string
	// S3Prefix is prepended to every key. --s3-prefix, default "".
	S3Prefix string
	// S3Region. --s3-region, default "us-east-1".
	S3Region string
	// S3Endpoint is the base URL of an S3-compatible server (MinIO, versitygw, R2); empty = AWS.
	// --s3-endpoint, default "".
	S3Endpoint string
	// S3PathStyle puts the bucket in the URL path (most S3-compatible servers). --s3-path-style.
	S3PathStyle bool
	// S3PublicURL is the base URL players fetch the VOD from (CDN); default the bucket's URL.
	// --s3-public-url, default "".
	S3PublicURL string
	// FFmpeg is the ffmpeg binary. --ffmpeg, default "ffmpeg".
	FFmpeg string
	// ReconnectGrace: a publisher that goes live again in the same room within this time after
	// the end continues the same recording (the archive grows; no new entry). 0 = never.
	// --reconnect-grace, default 15s.
	ReconnectGrace time.Duration
	// UploadMaxBytes caps one direct upload (POST /api/uploads). --upload-max-bytes, default 4GiB.
	UploadMaxBytes int64
	// UploadPartSize is the part size of direct uploads: bigger files go in parts (S3 multipart).
	// At least 5MiB with S3 (its minimum), 64KiB with local storage; at most 10000 parts per
	// upload. --upload-part-size, default 32MiB.
	UploadPartSize int64
	// UploadTTL is how long an upload's URLs stay valid; unfinished uploads are removed from
	// storage after it. 1m..24h. --upload-ttl, default 1h.
	UploadTTL time.Duration
	// ImportMaxBytes caps a file fetched by URL import. --import-max-bytes, default 4GiB.
	ImportMaxBytes int64
	// ImportTimeout bounds the whole download of a URL import. --import-timeout, default 30m.
	ImportTimeout time.Duration
	// TempDir holds transcode jobs' scratch space (chunk and file copies, ffmpeg output; up to a
	// few hundred MB per running job). Directories left by killed processes are swept at start.
	// --temp-dir, default <data-dir>/tmp.
	TempDir string
	// ImportAllowLoopback lets URL imports fetch from loopback addresses (127.0.0.0/8, ::1).
	// TEST ONLY: it has no flag; private, link-local and other internal addresses stay refused.
	ImportAllowLoopback bool
}

// DefaultWorkers is half the cores, at least 1 (ffmpeg is multi-threaded itself).
func DefaultWorkers() int { return max(1, runtime.NumCPU()/2) }

// DefaultArchive returns the documented archive defaults.
func DefaultArchive() Archive {
	return Archive{
		Record:         true,
		Workers:        DefaultWorkers(),
		ChunkDuration:  10 * time.Second,
		Retention:      24 * time.Hour,
		S3Region:       "us-east-1",
		FFmpeg:         "ffmpeg",
		ReconnectGrace: 15 * time.Second,
		UploadMaxBytes: 4 << 30,
		UploadPartSize: 32 << 20,
		UploadTTL:      time.Hour,
		ImportMaxBytes: 4 << 30,
		ImportTimeout:  30 * time.Minute,
	}
}

// VODDir is StorageDir, or <DataDir>/vod when it is empty.
func (c Config) VODDir() string {
	if c.StorageDir != "" {
		return c.StorageDir
	}
	return filepath.Join(c.DataDir, "vod")
}

// ScratchDir is TempDir, or <DataDir>/tmp when it is empty.
func (c Config) ScratchDir() string {
	if c.TempDir != "" {
		return c.TempDir
	}
	return filepath.Join(c.DataDir, "tmp")
}

// RecordingsDir is where raw recordings are written: <DataDir>/recordings.
func (c Config) RecordingsDir() string { return filepath.Join(c.DataDir, "recordings") }

func (a *Archive) settings() []setting {
	return []setting{
		{"record", "record every live room and archive it as HLS VOD", (*boolValue)(&a.Record)},
		{"redis-url", "Redis `URL` of the job queue and events (redis://[:pass@]host:port[/db]); empty = in-process (single node)", (*stringValue)(&a.RedisURL)},
		{"workers", "transcode jobs run at once in this process; 0 = none (run `relaycast worker` elsewhere)", (*intValue)(&a.Workers)},
		{"chunk-duration", "`duration` of recorded chunks, 2s..60s (cut at the next keyframe)", (*durationValue)(&a.ChunkDuration)},
		{"retention", "how long raw chunks stay on disk after archiving (`duration`, 0 = delete at once)", (*durationValue)(&a.Retention)},
		{"storage-dir", "local VOD `directory`, served under /vod/ (default <data-dir>/vod); unused with --s3-bucket", (*stringValue)(&a.StorageDir)},
		{"s3-bucket", "store the VOD in this S3 `bucket` (credentials from the AWS environment)", (*stringValue)(&a.S3Bucket)},
		{"s3-prefix", "key `prefix` in the bucket", (*stringValue)(&a.S3Prefix)},
		{"s3-region", "S3 `region`", (*stringValue)(&a.S3Region)},
		{"s3-endpoint", "S3-compatible endpoint `URL` (MinIO, versitygw, R2); empty = AWS", (*stringValue)(&a.S3Endpoint)},
		{"s3-path-style", "path-style S3 URLs (bucket in the path), for most S3-compatible servers", (*boolValue)(&a.S3PathStyle)},
		{"s3-public-url", "base `URL` players fetch the VOD from (CDN); default the bucket URL", (*stringValue)(&a.S3PublicURL)},
		{"ffmpeg", "ffmpeg `binary`", (*stringValue)(&a.FFmpeg)},
		{"reconnect-grace", "a publisher back in the same room within this `duration` continues the same recording; 0 = never", (*durationValue)(&a.ReconnectGrace)},
		{"upload-max-bytes", "largest direct upload (`size`: bytes, or with KiB/MiB/GiB/TiB)", (*bytesValue)(&a.UploadMaxBytes)},
		{"upload-part-size", "part `size` of direct uploads (bigger files go in parts); >= 5MiB with S3", (*bytesValue)(&a.UploadPartSize)},
		{"upload-ttl", "how long upload URLs stay valid (`duration`, 1m..24h); unfinished uploads are removed after it", (*durationValue)(&a.UploadTTL)},
		{"import-max-bytes", "largest file a URL import fetches (`size`)", (*bytesValue)(&a.ImportMaxBytes)},
		{"import-timeout", "time limit of a URL import's download (`duration`)", (*durationValue)(&a.ImportTimeout)},
		{"temp-dir", "scratch `directory` of transcode jobs (default <data-dir>/tmp); swept of dead processes' leftovers at start", (*stringValue)(&a.TempDir)},
	}
}

func (a Archive) validate(bad func(flagName, format string, args ...any)) {
	if a.RedisURL != "" {
		u, err := url.Parse(a.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad("redis-url", "%q is not a redis://host:port URL", a.RedisURL)
		}
	}
	if a.Workers < 0 {
		bad("workers", "must be >= 0, got %d", a.Workers)
	}
	if a.Record && a.Workers == 0 && a.RedisURL == "" {
		bad("workers", "0 needs --redis-url (workers elsewhere must share the queue)")
	}
	if a.ChunkDuration < 2*time.Second || a.ChunkDuration > 60*time.Second {
		bad("chunk-duration", "%v is not in 2s..60s", a.ChunkDuration)
	}
	if a.ReconnectGrace < 0 || a.ReconnectGrace > time.Hour {
		bad("reconnect-grace", "%v is not in 0..1h", a.ReconnectGrace)
	}
	if a.Retention < 0 {
		bad("retention", "must be >= 0, got %v", a.Retention)
	}
	if a.S3Endpoint != "" {
		u, err := url.Parse(a.S3Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("s3-endpoint", "%q is not an http(s) URL", a.S3Endpoint)
		}
	}
	if a.S3PublicURL != "" {
		u, err := url.Parse(a.S3PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("s3-public-url", "%q is not an http(s) URL", a.S3PublicURL)
		}
	}
	if strings.Contains(a.S3Prefix, "..") || strings.HasPrefix(a.S3Prefix, "/") {
		bad("s3-prefix", "%q must be relative and must not contain ..", a.S3Prefix)
	}
	if a.S3Bucket == "" && (a.S3Endpoint != "" || a.S3Prefix != "" || a.S3PublicURL != "") {
		bad("s3-bucket", "needed with --s3-endpoint, --s3-prefix or --s3-public-url")
	}
	if strings.TrimSpace(a.FFmpeg) == "" {
		bad("ffmpeg", "must not be empty")
	}
	if a.UploadMaxBytes < 1 {
		bad("upload-max-bytes", "must be positive, got %d", a.UploadMaxBytes)
	}
	minPart := int64(64 << 10)
	if a.S3Bucket != "" {
		minPart = 5 << 20 // S3's smallest part but the last
	}
	if a.UploadPartSize < minPart || a.UploadPartSize > 5<<30 {
		bad("upload-part-size", "%s is not in %s..5GiB", formatBytes(a.UploadPartSize), formatBytes(minPart))
	} else if a.UploadMaxBytes > 0 && (a.UploadMaxBytes+a.UploadPartSize-1)/a.UploadPartSize > 10000 {
		bad("upload-part-size", "%s makes more than 10000 parts of a %s upload; raise it", formatBytes(a.UploadPartSize), formatBytes(a.UploadMaxBytes))
	}
	if a.UploadTTL < time.Minute || a.UploadTTL > 24*time.Hour {
		bad("upload-ttl", "%v is not in 1m..24h", a.UploadTTL)
	}
	if a.ImportMaxBytes < 1 {
		bad("import-max-bytes", "must be positive, got %d", a.ImportMaxBytes)
	}
	if a.ImportTimeout < time.Second || a.ImportTimeout > 24*time.Hour {
		bad("import-timeout", "%v is not in 1s..24h", a.ImportTimeout)
	}
}

type durationValue time.Duration

func (v *durationValue) String() string {
	if v == nil {
		return "0s"
	}
	return time.Duration(*v).String()
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a duration like 10s or 1h30m")
	}
	*v = durationValue(d)
	return nil
}
