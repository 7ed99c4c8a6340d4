package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewTestS3 returns an S3 store on a fresh bucket of the server named by RELAYCAST_TEST_S3
// (scripts/test.sh starts versitygw). Without it the test skips, or fails when CI=true.
func newTestS3(t *testing.T) *S3 {
	t.Helper()
	ep := os.Getenv("RELAYCAST_TEST_S3")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RELAYCAST_TEST_S3 is not set (scripts/test.sh starts versitygw)")
		}
		t.Skip("RELAYCAST_TEST_S3 not set")
	}
	ctx := context.Background()
	bucket := fmt.Sprintf("t%d", time.Now().UnixNano())
	s, err := NewS3(ctx, S3Params{Bucket: bucket, Prefix: "pre", Endpoint: ep, PathStyle: true,
		AccessKey: os.Getenv("RELAYCAST_TEST_S3_ACCESS"), SecretKey: os.Getenv("RELAYCAST_TEST_S3_SECRET"), PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStores(t *testing.T) {
	stores := map[string]func(t *testing.T) Storage{
		"local": func(t *testing.T) Storage {
			l, err := NewLocal(LocalParams{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"s3": func(t *testing.T) Storage { return newTestS3(t) },
	}
	big := make([]byte, 11<<20) // multipart on S3
	_, _ = rand.Read(big)
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := mk(t)
			files := map[string][]byte{
				"rec/a/master.m3u8":    []byte("#EXTM3U\n"),
				"rec/a/720p/c0_000.ts": bytes.Repeat([]byte{0x47}, 188*10),
				"rec/a/big.ts":         big,
				"rec/ab/keep.json":     []byte("{}"),
			}
			for k, v := range files {
				// Non-seekable reader on purpose (plain HTTP S3 must cope).
				if err := s.Put(ctx, k, io.MultiReader(bytes.NewReader(v)), int64(len(v))); err != nil {
					t.Fatal(err)
				}
				// Idempotent: a second put of the same bytes is fine.
				if err := s.Put(ctx, k, bytes.NewReader(v), int64(len(v))); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range files {
				rc, err := s.Get(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				_ = rc.Close()
				if !bytes.Equal(got, v) {
					t.Fatalf("%s: got %d bytes, want %d", k, len(got), len(v))
				}
			}
			if _, err := s.Get(ctx, "rec/none"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			for _, bad := range []string{"", "/abs", "a/../b", "./a"} {
				if err := s.Put(ctx, bad, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("key %q: %v", bad, err)
				}
			}
			if err := s.DeletePrefix(ctx, "rec/a/"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "rec/a/master.m3u8"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if rc, err := s.Get(ctx, "rec/ab/keep.json"); err != nil {
				t.Fatalf("sibling prefix deleted: %v", err)
			} else {
				_ = rc.Close()
			}
			if u := s.URL("rec/a/master.m3u8"); !strings.HasSuffix(u, "rec/a/master.m3u8") {
				t.Fatalf("url %q", u)
			}
		})
	}
}

func TestS3ContentHeaders(t *testing.T) {
	s := newTestS3(t)
	ctx := context.Background()
	for key, want := range map[string]string{"x/p.m3u8": "application/vnd.apple.mpegurl", "x/s.ts": "video/mp2t", "x/poster.jpg": "image/jpeg"} {
		if err := s.Put(ctx, key, strings.NewReader("data"), 4); err != nil {
			t.Fatal(err)
		}
		out, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ContentType) != want || aws.ToString(out.CacheControl) != CacheControl(key) {
			t.Errorf("%s: type %q cache %q", key, aws.ToString(out.ContentType), aws.ToString(out.CacheControl))
		}
	}
}

func TestS3Unreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := NewS3(ctx, S3Params{Bucket: "b", Endpoint: "http://127.0.0.1:1", PathStyle: true, AccessKey: "k", SecretKey: "s", MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a.ts", strings.NewReader("x"), 1); err == nil {
		t.Fatal("put to an unreachable server succeeded")
	}
}

func TestLocalHandler(t *testing.T) {
	l, err := NewLocal(LocalParams{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Put(context.Background(), "r/master.m3u8", strings.NewReader("#EXTM3U\n"), -1)
	_ = l.Put(context.Background(), "r/a.ts", strings.NewReader("ts"), -1)
	srv := httptest.NewServer(http.StripPrefix("/vod", l.Handler()))
	defer srv.Close()
	tests := []struct {
		path, ctype string
		code        int
	}{
		{"/vod/r/master.m3u8", "application/vnd.apple.mpegurl", 200},
		{"/vod/r/a.ts", "video/mp2t", 200},
		{"/vod/r/none.ts", "", 404},
		{"/vod/r/", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != tt.code || (tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype) {
				t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
	}
}

// TestLocalPutFile: a local file becomes an object by a hard link (the same inode, nothing
// copied), replacing an older object; a bad key is refused; where no link can be made the file is
// copied instead.
func TestLocalPutFile(t *testing.T) {
	ctx := context.Background()
	l, err := NewLocal(LocalParams{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() + "/chunk.ivf"
	if err := os.WriteFile(src, []byte("frames"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "raw/r/0/video.ivf", strings.NewReader("older"), -1); err != nil {
		t.Fatal(err)
	}
	if err := l.PutFile(ctx, "raw/r/0/video.ivf", src); err != nil {
		t.Fatal(err)
	}
	read := func(key string) string {
		t.Helper()
		rc, err := l.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	if got := read("raw/r/0/video.ivf"); got != "frames" {
		t.Fatalf("object = %q", got)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(l.path("raw/r/0/video.ivf"))
	if !os.SameFile(a, b) {
		t.Fatal("the object is a copy, not a link of the file")
	}
	if ents, _ := os.ReadDir(l.path("raw/r/0")); len(ents) != 1 {
		t.Fatalf("left in the directory: %v", ents)
	}
	if err := l.PutFile(ctx, "../escape", src); err == nil {
		t.Fatal("a key outside the store was accepted")
	}
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: errors.New("cross-device link")} }
	t.Cleanup(func() { link = os.Link })
	if err := l.PutFile(ctx, "raw/r/1/video.ivf", src); err != nil {
		t.Fatal(err)
	}
	if got := read("raw/r/1/video.ivf"); got != "frames" {
		t.Fatalf("copied object = %q", got)
	}
	c, _ := os.Stat(l.path("raw/r/1/video.ivf"))
	if os.SameFile(a, c) {
		t.Fatal("the fallback linked the file")
	}
	if err := l.PutFile(ctx, "raw/r/2/video.ivf", src+".missing"); err == nil {
		t.Fatal("a missing file was stored")
	}
}
