package testserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/storage"
)

// Helpers of the tests that need a recording node (packages archive, uploads, httpapi).

// ArchiveConfig is Config with recording tuned for tests: 4 s chunks, two in-process workers.
func ArchiveConfig(t testing.TB) config.Config {
	cfg := Config(t)
	cfg.ChunkDuration = 4 * time.Second
	cfg.Workers = 2
	return cfg
}

// Archive is a started recording node of a test: the server, its base URL and its config.
type Archive struct {
	*server.Server
	Base   string // the server's URL()
	Config config.Config
}

// StartArchive starts a recording node with ArchiveConfig(t), changed by mutate if non-nil,
// whose pipeline polls fast and transcodes two ultrafast rungs; it shuts down when the test ends.
func StartArchive(t testing.TB, mutate func(*config.Config)) *Archive {
	t.Helper()
	cfg := ArchiveConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	return RunArchive(t, server.Params{Config: cfg, Stdout: io.Discard, Logger: Logger(t),
		ArchiveTuning: archive.Tuning{PollInterval: 50 * time.Millisecond, MaxRungs: 2, Preset: "ultrafast"}})
}

// RunArchive starts a server with p (as Run does) and returns it as an Archive of p.Config.
func RunArchive(t testing.TB, p server.Params) *Archive {
	t.Helper()
	srv := Run(t, p)
	return &Archive{Server: srv, Base: srv.URL(), Config: p.Config}
}

// Token issues a one-hour token for room with grant, subject "seller-<room>" (the subject
// PublishFiles' tokens have, so the recordings' seller).
func (a *Archive) Token(t testing.TB, room string, g auth.Grant) string {
	t.Helper()
	tok, err := a.Signer().Issue(room, []auth.Grant{g}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// PublishFile publishes the clip of d (Clip) to room over WHIP; it returns the publisher and a
// function that ends the broadcast (WHIP DELETE) and returns when it did.
func (a *Archive) PublishFile(t testing.TB, room string, d time.Duration) (*client.FilePublisher, func() time.Time) {
	t.Helper()
	return PublishClip(t, a.Base, a.Signer(), room, d)
}

// CheckArchive verifies a ready recording's HLS with ffprobe: duration want ± 1 s.
func (a *Archive) CheckArchive(t testing.TB, r catalog.Recording, want float64) {
	t.Helper()
	CheckHLS(t, a.Base+r.HLSURL, r, want, 1)
}

// RunWorker runs a separate `relaycast worker` (one worker) on the node's config until the
// test ends.
func (a *Archive) RunWorker(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := a.Config
	cfg.Workers = 1
	go func() { done <- server.RunWorker(ctx, cfg, nil) }()
	t.Cleanup(func() { cancel(); <-done })
}

// clips are the VP8/Opus clips of the test binary, made once per duration and shared by its
// tests (a mutex-guarded cache, the one package-level variable of testserver).
var clips testmedia.Clips

// Clip returns the VP8/Opus clip of d of this test binary, generating it the first time.
func Clip(t testing.TB, d time.Duration) (video, audio string) { t.Helper(); return clips.Get(t, d) }

// PutClip makes Clip return video and audio for d (a clip a test made with other parameters).
func PutClip(d time.Duration, video, audio string) { clips.Put(d, video, audio) }

// PublishClip publishes the clip of d (Clip) to room of the server at url over WHIP, with a
// publish token of signer, as PublishFiles does.
func PublishClip(t testing.TB, url string, signer *auth.Signer, room string, d time.Duration) (*client.FilePublisher, func() time.Time) {
	t.Helper()
	v, a := Clip(t, d)
	return PublishFiles(t, url, signer, room, v, a)
}

// S3Bucket creates a fresh bucket, named name plus a timestamp, on the test S3
// (RELAYCAST_TEST_S3, versitygw) with the test's credentials; the test is skipped without one
// (fails in CI). It returns the bucket's store (prefix "vod") and the change of a Config that
// stores the archive there.
func S3Bucket(t testing.TB, name string) (*storage.S3, func(*config.Config)) {
	t.Helper()
	ep := os.Getenv("RELAYCAST_TEST_S3")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RELAYCAST_TEST_S3 is not set (scripts/test.sh starts versitygw)")
		}
		t.Skip("RELAYCAST_TEST_S3 not set")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv("RELAYCAST_TEST_S3_ACCESS"))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv("RELAYCAST_TEST_S3_SECRET"))
	bucket := fmt.Sprintf("%s%d", name, time.Now().UnixNano())
	st, err := storage.NewS3(context.Background(), storage.S3Params{Bucket: bucket, Endpoint: ep, PathStyle: true, Prefix: "vod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return st, func(c *config.Config) { c.S3Bucket, c.S3Endpoint, c.S3PathStyle, c.S3Prefix = bucket, ep, true, "vod" }
}

// Logger is a debug logger on stderr with RELAYCAST_TEST_LOG set, else nil (discard).
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("RELAYCAST_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// PublishFiles publishes a video file (IVF of any codec, or H.264 Annex-B) and an Ogg Opus file
// over WHIP, and returns it with a function that ends the broadcast (WHIP DELETE) and returns when it did.
func PublishFiles(t testing.TB, url string, signer *auth.Signer, room, v, a string) (*client.FilePublisher, func() time.Time) {
	t.Helper()
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	tok, err := signer.Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	var loc string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, url+"/whip/"+room, tok, &loc)); err != nil {
		t.Fatal(err)
	}
	return pub, func() time.Time {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Delete(ctx, nil, loc, tok); err != nil {
			t.Errorf("WHIP delete: %v", err)
		}
		_ = pub.Close()
		return time.Now()
	}
}

// Event is one Server-Sent Event of /api/events.
type Event struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// SSE subscribes to /api/events and returns a channel of events.
func SSE(t testing.TB, url string) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Event, 1024)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e Event
				if json.Unmarshal([]byte(data), &e) == nil {
					select {
					case ch <- e:
					default:
					}
				}
			}
		}
	}()
	return ch
}

// WaitStatus reads events until recording (any id when id is "") reaches status.
func WaitStatus(t testing.TB, ch <-chan Event, id string, status catalog.Status, timeout time.Duration) catalog.Recording {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-ch:
			if e.Type != "recording" || (id != "" && e.ID != id) {
				continue
			}
			var r catalog.Recording
			_ = json.Unmarshal(e.Data, &r)
			if r.Status == status {
				return r
			}
			if r.Status == catalog.StatusFailed && status != catalog.StatusFailed {
				t.Fatalf("recording failed: %s", r.Error)
			}
		case <-deadline:
			t.Fatalf("recording %q not %s within %v", id, status, timeout)
		}
	}
}

// Send sends req with the bearer token (if any) and returns the answer and its whole body (read
// and closed); a transport error fails the test.
func Send(t testing.TB, req *http.Request, token string) (*http.Response, []byte) {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// GetJSON GETs url with token (if any) into v (if non-nil) and returns the status.
func GetJSON(t testing.TB, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	res, b := Send(t, req, token)
	if v != nil {
		_ = json.Unmarshal(b, v)
	}
	return res.StatusCode
}

// Do sends body to url with method and token (if any) and returns the status.
func Do(t testing.TB, method, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, _ := Send(t, req, token)
	return res.StatusCode
}

// CheckHLS probes every rendition of a ready recording; the duration must be within tol of want.
func CheckHLS(t testing.TB, master string, r catalog.Recording, want, tol float64) {
	t.Helper()
	if len(r.Renditions) == 0 || !strings.HasSuffix(r.HLSURL, "master.m3u8") || r.PosterURL == "" {
		t.Fatalf("recording %+v", r)
	}
	for _, name := range r.Renditions {
		pl := strings.TrimSuffix(master, "master.m3u8") + name + "/index.m3u8"
		rep, err := testmedia.Probe(pl)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", name, rep)
		if !rep.Video || !rep.Audio {
			t.Errorf("%s: video %v audio %v", name, rep.Video, rep.Audio)
		}
		if math.Abs(rep.Duration-want) > tol {
			t.Errorf("%s: duration %.2f s, want %.2f ± %.1f", name, rep.Duration, want, tol)
		}
		if math.Abs(rep.AVOffset) > 0.1 {
			t.Errorf("%s: A/V start offset %.3f s", name, rep.AVOffset)
		}
		if rep.MaxVideoGap > 0.1 || rep.MaxAudioGap > 0.1 {
			t.Errorf("%s: gaps: video %.3f s, audio %.3f s", name, rep.MaxVideoGap, rep.MaxAudioGap)
		}
	}
}

// Mirror copies the objects of bucket under vod/ + prefix (listed with st's client, read through
// get, the archive's store) into a local directory; it returns it and the store keys.
func Mirror(t testing.TB, st *storage.S3, get storage.Storage, bucket, prefix string) (dir string, keys []string) {
	t.Helper()
	dir = t.TempDir()
	out, err := st.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("vod/" + prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		key := strings.TrimPrefix(aws.ToString(o.Key), "vod/")
		keys = append(keys, key)
		rc, err := get.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		dst := filepath.Join(dir, key)
		_ = os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, keys
}

// RedisURL is the URL of database db of the test Redis (RELAYCAST_TEST_REDIS), flushed; the
// test is skipped without one (fails in CI).
func RedisURL(t testing.TB, db int) string {
	t.Helper()
	addr := os.Getenv("RELAYCAST_TEST_REDIS")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RELAYCAST_TEST_REDIS is not set (scripts/test.sh starts redis-server)")
		}
		t.Skip("RELAYCAST_TEST_REDIS not set")
	}
	url := fmt.Sprintf("redis://%s/%d", addr, db)
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer rc.Close()
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return url
}
