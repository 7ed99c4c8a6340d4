package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func put(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, res.Header.Get("ETag")
}

// TestS3Presigned: a presigned PUT stores exactly the signed size; a presigned multipart upload
// is listed part by part, completes into one object, and an
// aborted one leaves nothing.
func TestS3Presigned(t *testing.T) {
	s := newTestS3(t)
	ctx := context.Background()
	body := make([]byte, 3000)
	_, _ = rand.Read(body)

	u, err := s.PresignPut(ctx, "raw/x/source.mp4", int64(len(body)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The size is part of the signature: a longer body is refused.
	if code, _ := put(t, u, append(body, 'x')); code != http.StatusForbidden {
		t.Fatalf("PUT of more bytes than signed: %d, want 403", code)
	}
	if code, etag := put(t, u, body); code != 200 || etag == "" {
		t.Fatalf("presigned put: %d etag %q", code, etag)
	}
	if n, err := s.Size(ctx, "raw/x/source.mp4"); err != nil || n != int64(len(body)) {
		t.Fatalf("size %d %v", n, err)
	}
	if _, err := s.Size(ctx, "raw/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("size of missing: %v", err)
	}

	big := make([]byte, 5<<20+1000)
	_, _ = rand.Read(big)
	id, err := s.CreateMultipart(ctx, "raw/y/source.mp4")
	if err != nil {
		t.Fatal(err)
	}
	var parts []Part
	for i, chunk := range [][]byte{big[:5<<20], big[5<<20:]} {
		n := int32(i + 1)
		pu, err := s.PresignPart(ctx, "raw/y/source.mp4", id, n, int64(len(chunk)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		code, etag := put(t, pu, chunk)
		if code != 200 || etag == "" {
			t.Fatalf("part %d: %d %q", n, code, etag)
		}
		parts = append(parts, Part{Number: n, ETag: etag})
	}
	listed, err := s.ListParts(ctx, "raw/y/source.mp4", id)
	if err != nil || len(listed) != 2 || listed[1].Size != 1000 || listed[0].ETag != parts[0].ETag {
		t.Fatalf("list parts: %+v %v", listed, err)
	}
	if err := s.CompleteMultipart(ctx, "raw/y/source.mp4", id, parts); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "raw/y/source.mp4")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	_ = rc.Close()
	if !bytes.Equal(got, big) {
		t.Fatalf("assembled %d bytes, want %d", len(got), len(big))
	}

	id2, err := s.CreateMultipart(ctx, "raw/z/source.mp4")
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := s.PresignPart(ctx, "raw/z/source.mp4", id2, 1, 100, time.Minute)
	if code, _ := put(t, pu, big[:100]); code != 200 {
		t.Fatalf("part: %d", code)
	}
	if err := s.AbortMultipart(ctx, "raw/z/source.mp4", id2); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortMultipart(ctx, "raw/z/source.mp4", id2); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := s.ListParts(ctx, "raw/z/source.mp4", id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("parts of an aborted upload: %v", err)
	}
}
