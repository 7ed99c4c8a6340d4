package uploads_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
	"github.com/relaycast/relaycast/uploads"
)

// api sends a JSON request and decodes the JSON answer into v (when non-nil); it returns the
// status and the answer's "error".
func api(t *testing.T, method, url, token string, body, v any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	res, b := send(t, req, token)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	if v != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return res.StatusCode, e.Error
}

// putPart PUTs body to a part URL (relative URLs are the server's) and returns status and ETag.
func putPart(t *testing.T, base, url string, body []byte) (int, string) {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = base + url
	}
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	res, _ := send(t, req, "")
	return res.StatusCode, res.Header.Get("ETag")
}

type uploadStart struct {
	ID          string    `json:"id"`
	ExpiresAt   time.Time `json:"expires_at"`
	PartSize    int64     `json:"part_size"`
	CompleteURL string    `json:"complete_url"`
	Parts       []struct {
		Number int    `json:"number"`
		URL    string `json:"url"`
	} `json:"parts"`
}

type etagPart struct {
	Number int    `json:"number"`
	ETag   string `json:"etag"`
}

// startUpload declares data as an upload of filename to room.
func startUpload(t *testing.T, s *testserver.Archive, token, room, filename string, data []byte) uploadStart {
	t.Helper()
	var up uploadStart
	code, msg := api(t, http.MethodPost, s.Base+"/api/uploads", token, map[string]any{"room": room, "title": "Upload " + filename,
		"filename": filename, "size": len(data), "content_type": "video/mp4"}, &up)
	if code != http.StatusCreated {
		t.Fatalf("create upload: %d %s", code, msg)
	}
	return up
}

// sendParts PUTs every part of data as the browser does and returns the ETags.
func sendParts(t *testing.T, s *testserver.Archive, up uploadStart, data []byte) []etagPart {
	t.Helper()
	var parts []etagPart
	for _, p := range up.Parts {
		from := int64(p.Number-1) * up.PartSize
		to := min(int64(len(data)), from+up.PartSize)
		code, etag := putPart(t, s.Base, p.URL, data[from:to])
		if code != http.StatusOK || etag == "" {
			t.Fatalf("PUT part %d: %d etag %q", p.Number, code, etag)
		}
		parts = append(parts, etagPart{p.Number, etag})
	}
	return parts
}

// uploadFile uploads a whole file and completes it; it returns the recording id.
func uploadFile(t *testing.T, s *testserver.Archive, room, file string) (string, uploadStart) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Token(t, room, auth.GrantPublish)
	up := startUpload(t, s, tok, room, filepath.Base(file), data)
	parts := sendParts(t, s, up, data)
	var done struct {
		RecordingID string `json:"recording_id"`
	}
	if code, msg := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, &done); code != http.StatusAccepted {
		t.Fatalf("complete: %d %s", code, msg)
	}
	if done.RecordingID != up.ID {
		t.Fatalf("recording id %q, upload id %q", done.RecordingID, up.ID)
	}
	return done.RecordingID, up
}

func mediaFile(t *testing.T, p testmedia.FileParams) string {
	t.Helper()
	if err := testmedia.File(p); err != nil {
		t.Fatal(err)
	}
	return p.Path
}

// probeRenditions ffprobes every rendition of a ready recording (master is the URL or local
// path of its master playlist).
func probeRenditions(t *testing.T, master string, r catalog.Recording, want float64, audio bool) {
	t.Helper()
	if len(r.Renditions) == 0 || r.PosterURL == "" || !strings.HasSuffix(r.HLSURL, "master.m3u8") {
		t.Fatalf("recording %+v", r)
	}
	for _, name := range r.Renditions {
		rep, err := testmedia.Probe(strings.TrimSuffix(master, "master.m3u8") + name + "/index.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Video || rep.Audio != audio || rep.Duration < want-1 || rep.Duration > want+1 {
			t.Errorf("%s: %+v, want video, audio %v, %.1f s", name, rep, audio, want)
		}
	}
}

// nothingLeft checks that neither storage nor the parts directory hold anything of id.
func nothingLeft(t *testing.T, s *testserver.Archive, id string) {
	t.Helper()
	for _, key := range []string{"raw/" + id + "/", "rec/" + id + "/"} {
		if s.Archive().Local() != nil {
			if ents, _ := os.ReadDir(filepath.Join(s.Config.VODDir(), key)); len(ents) > 0 {
				t.Errorf("%s left in storage: %d entries", key, len(ents))
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Config.DataDir, "uploads", id)); len(ents) > 0 {
		t.Errorf("parts of %s left on disk: %d files", id, len(ents))
	}
}

// TestUploadLocal: an mp4 uploaded through relaycast's signed URLs (local storage) becomes a
// ready HLS recording with source "upload"; a multipart upload of an audio-less webm too.
func TestUploadLocal(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	s := startArchive(t, func(c *config.Config) { c.UploadMaxBytes, c.UploadPartSize = 64<<20, 64<<10 })
	events := sse(t, s.Base)
	dir := t.TempDir()

	t.Run("mp4", func(t *testing.T) {
		file := mediaFile(t, testmedia.FileParams{Path: filepath.Join(dir, "spring sale.mp4"), Duration: 4 * time.Second})
		id, up := uploadFile(t, s, "shop", file)
		t.Logf("%d parts of %d KiB", len(up.Parts), up.PartSize>>10)
		if len(up.Parts) < 2 {
			t.Errorf("expected a multipart upload, got %d part", len(up.Parts))
		}
		r := waitStatus(t, events, id, catalog.StatusReady, 90*time.Second)
		if r.Source != catalog.SourceUpload || r.Seller != "seller-shop" || r.Title != "Upload spring sale.mp4" || r.Room != "shop" {
			t.Errorf("recording %+v", r)
		}
		probeRenditions(t, s.Base+r.HLSURL, r, 4, true)
		nothingLeftButVOD(t, s, id)
	})
	t.Run("webm without audio", func(t *testing.T) {
		file := mediaFile(t, testmedia.FileParams{Path: filepath.Join(dir, "silent.webm"), Duration: 3 * time.Second, Size: "320x240", NoAudio: true})
		id, _ := uploadFile(t, s, "shop", file)
		r := waitStatus(t, events, id, catalog.StatusReady, 90*time.Second)
		probeRenditions(t, s.Base+r.HLSURL, r, 3, false)
	})
}

// nothingLeftButVOD: after ready, the source and the parts are gone; the VOD stays.
func nothingLeftButVOD(t *testing.T, s *testserver.Archive, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.Config.VODDir(), "raw", id)); !os.IsNotExist(err) {
		t.Errorf("raw/%s kept after ready: %v", id, err)
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "uploads", id)); !os.IsNotExist(err) {
		t.Errorf("parts of %s kept: %v", id, err)
	}
	if _, err := s.Archive().Catalog().GetUpload(context.Background(), id); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("upload row kept: %v", err)
	}
}

// TestUploadRejects: every bad request gets a clear error, and nothing is left behind.
func TestUploadRejects(t *testing.T) {
	needTools(t)
	s := startArchive(t, func(c *config.Config) { c.UploadMaxBytes, c.UploadPartSize = 8<<20, 64<<10 })
	tok := s.Token(t, "shop", auth.GrantPublish)
	decl := func(name, ctype string, size int) map[string]any {
		return map[string]any{"room": "shop", "filename": name, "size": size, "content_type": ctype}
	}
	for _, tt := range []struct {
		name, token string
		body        any
		code        int
		msg         string
	}{
		{"no token", "", decl("a.mp4", "video/mp4", 10), 401, "token"},
		{"other room", s.Token(t, "other", auth.GrantPublish), decl("a.mp4", "video/mp4", 10), 403, "does not grant"},
		{"viewer", s.Token(t, "shop", auth.GrantSubscribe), decl("a.mp4", "video/mp4", 10), 403, "does not grant"},
		{"bad json", tok, "nope", 400, "JSON"},
		{"bad room", tok, map[string]any{"room": "../x", "filename": "a.mp4", "size": 10}, 400, "room"},
		{"text file", tok, decl("notes.txt", "text/plain", 10), 400, "not a video file"},
		{"image type", tok, decl("a.mp4", "image/png", 10), 400, "not a video type"},
		{"path in name", tok, decl("../a.mp4", "video/mp4", 10), 400, "filename"},
		{"empty", tok, decl("a.mp4", "video/mp4", 0), 400, "size"},
		{"too big", tok, decl("a.mp4", "video/mp4", 9<<20), 413, "at most 8 MiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := api(t, http.MethodPost, s.Base+"/api/uploads", tt.token, tt.body, nil)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("%d %q, want %d with %q", code, msg, tt.code, tt.msg)
			}
		})
	}

	data := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160 KiB: 3 parts
	t.Run("parts", func(t *testing.T) {
		up := startUpload(t, s, tok, "shop", "x.mp4", data)
		if len(up.Parts) != 3 {
			t.Fatalf("%d parts", len(up.Parts))
		}
		// A wrong signature, a part bigger or smaller than declared.
		bad := strings.Replace(up.Parts[0].URL, "sig=", "sig=0", 1)
		if code, _ := putPart(t, s.Base, bad, data[:64<<10]); code != http.StatusForbidden {
			t.Errorf("bad signature: %d", code)
		}
		other := strings.Replace(up.Parts[0].URL, "/parts/1?", "/parts/2?", 1) // signature of part 1 for part 2
		if code, _ := putPart(t, s.Base, other, data[:64<<10]); code != http.StatusForbidden {
			t.Errorf("signature of another part: %d", code)
		}
		if code, _ := putPart(t, s.Base, up.Parts[0].URL, data[:64<<10+1]); code != http.StatusRequestEntityTooLarge {
			t.Errorf("part bigger than declared: %d", code)
		}
		if code, _ := putPart(t, s.Base, up.Parts[0].URL, data[:100]); code != http.StatusBadRequest {
			t.Errorf("short part: %d", code)
		}
		// Complete with parts missing: 400, no recording; then a wrong ETag.
		code1, etag1 := putPart(t, s.Base, up.Parts[0].URL, data[:64<<10])
		if code1 != 200 {
			t.Fatal(code1)
		}
		// Resume: the upload lists the part that arrived, with fresh URLs.
		var again uploadStart
		var listed struct {
			Parts []etagPart `json:"parts"`
		}
		if code, msg := api(t, http.MethodGet, s.Base+"/api/uploads/"+up.ID, tok, nil, &again); code != 200 || len(again.Parts) != 3 {
			t.Fatalf("resume: %d %q", code, msg)
		}
		api(t, http.MethodGet, s.Base+"/api/uploads/"+up.ID, tok, nil, &listed)
		if listed.Parts[0].ETag != etag1 || listed.Parts[1].ETag != "" {
			t.Errorf("resume lists %+v, want part 1 with %s only", listed.Parts, etag1)
		}
		if code, _ := api(t, http.MethodGet, s.Base+"/api/uploads/"+up.ID, s.Token(t, "other", auth.GrantPublish), nil, nil); code != 403 {
			t.Errorf("resume with another room's token: %d", code)
		}
		parts := []etagPart{{1, etag1}, {2, `"x"`}, {3, `"y"`}}
		if code, msg := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, nil); code != 400 || !strings.Contains(msg, "part 2 is missing") {
			t.Errorf("complete with missing parts: %d %q", code, msg)
		}
		if code, msg := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts[:1]}, nil); code != 400 || !strings.Contains(msg, "3 parts") {
			t.Errorf("complete with one part listed: %d %q", code, msg)
		}
		if code, _ := api(t, http.MethodPost, s.Base+up.CompleteURL, s.Token(t, "other", auth.GrantPublish), map[string]any{"parts": parts}, nil); code != 403 {
			t.Errorf("complete with another room's token: %d", code)
		}
		if _, err := s.Archive().Catalog().Get(context.Background(), up.ID); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("recording created by a failed complete: %v", err)
		}
		// Expiry: the URLs answer 410, complete too, and the cleaner removes the parts.
		uploads.SetSkew(s.Uploads(), s.Config.UploadTTL+time.Minute)
		defer uploads.SetSkew(s.Uploads(), 0)
		if code, _ := putPart(t, s.Base, up.Parts[1].URL, data[64<<10:128<<10]); code != http.StatusGone {
			t.Errorf("PUT after expiry: %d", code)
		}
		if code, _ := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, nil); code != http.StatusGone {
			t.Errorf("complete after expiry: %d", code)
		}
		if code, _ := api(t, http.MethodGet, s.Base+"/api/uploads/"+up.ID, tok, nil, nil); code != http.StatusGone {
			t.Errorf("resume after expiry: %d", code)
		}
		if n := uploads.CleanUploads(s.Uploads(), context.Background()); n != 1 {
			t.Errorf("cleaner removed %d uploads", n)
		}
		nothingLeft(t, s, up.ID)
		if code, _ := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, nil); code != http.StatusNotFound {
			t.Errorf("complete of a removed upload: %d", code)
		}
		if code, _ := api(t, http.MethodPost, s.Base+"/api/uploads/nope/complete", tok, map[string]any{"parts": parts}, nil); code != http.StatusNotFound {
			t.Errorf("complete of an unknown upload: %d", code)
		}
	})

	// Files that pass the declaration but are no video: the recording fails with the reason,
	// and storage keeps nothing of them.
	if testing.Short() {
		return
	}
	events := sse(t, s.Base)
	whole := mediaFile(t, testmedia.FileParams{Path: filepath.Join(t.TempDir(), "whole.mp4"), Duration: 3 * time.Second})
	b, _ := os.ReadFile(whole)
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	_ = os.WriteFile(cut, b[:len(b)/2], 0o644)
	notes := filepath.Join(t.TempDir(), "notes.mp4")
	_ = os.WriteFile(notes, bytes.Repeat([]byte("not a video\n"), 5000), 0o644)
	for name, file := range map[string]string{"not a video": notes, "truncated": cut} {
		t.Run(name, func(t *testing.T) {
			id, _ := uploadFile(t, s, "shop", file)
			r := waitStatus(t, events, id, catalog.StatusFailed, 60*time.Second)
			t.Logf("error: %s", r.Error)
			if r.Error != transcode.MsgNotVideo || r.Log != "" || r.Retryable {
				t.Errorf("error %q", r.Error)
			}
			nothingLeft(t, s, id)
		})
	}
}

// TestUploadS3: presigned S3 uploads, one PUT and multipart (5 MiB parts), become ready VODs;
// an abandoned multipart upload is aborted when it expires, a missing part fails complete.
func TestUploadS3(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	st, mut := testserver.S3Bucket(t, "up")
	s := startArchive(t, func(c *config.Config) { mut(c); c.UploadPartSize = 5 << 20 })
	events := sse(t, s.Base)
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		p    testmedia.FileParams
	}{
		{"single", testmedia.FileParams{Path: filepath.Join(dir, "small.mp4"), Duration: 3 * time.Second}},
		{"multipart", testmedia.FileParams{Path: filepath.Join(dir, "noise.mp4"), Duration: 3 * time.Second, Size: "320x240", Noise: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, up := uploadFile(t, s, "shop", mediaFile(t, tt.p))
			fi, _ := os.Stat(tt.p.Path)
			t.Logf("%d bytes in %d parts", fi.Size(), len(up.Parts))
			if tt.name == "multipart" && len(up.Parts) < 2 {
				t.Fatalf("noise file of %d bytes went in %d part", fi.Size(), len(up.Parts))
			}
			if !strings.HasPrefix(up.Parts[0].URL, os.Getenv("RELAYCAST_TEST_S3")) || !strings.Contains(up.Parts[0].URL, "X-Amz-Signature=") {
				t.Errorf("part URL %q is not a presigned S3 URL", up.Parts[0].URL)
			}
			r := waitStatus(t, events, id, catalog.StatusReady, 120*time.Second)
			local, keys := mirror(t, st, s.Archive().Store(), s.Config.S3Bucket, "")
			for _, k := range keys {
				if strings.HasPrefix(k, "raw/"+id+"/") {
					t.Errorf("%s left in the bucket", k)
				}
			}
			probeRenditions(t, filepath.Join(local, transcode.MasterKey(id)), r, 3, true)
		})
	}
	t.Run("missing part and expiry", func(t *testing.T) {
		tok := s.Token(t, "shop", auth.GrantPublish)
		data := bytes.Repeat([]byte{1}, 5<<20+100)
		up := startUpload(t, s, tok, "shop", "big.mp4", data)
		code, etag := putPart(t, s.Base, up.Parts[0].URL, data[:5<<20])
		if code != 200 {
			t.Fatalf("part 1: %d", code)
		}
		parts := []etagPart{{1, etag}, {2, `"nope"`}}
		if code, msg := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, nil); code != 400 || !strings.Contains(msg, "part 2 is missing") {
			t.Errorf("complete without part 2: %d %q", code, msg)
		}
		var listed struct {
			Parts []etagPart `json:"parts"`
		}
		if code, msg := api(t, http.MethodGet, s.Base+"/api/uploads/"+up.ID, tok, nil, &listed); code != 200 || len(listed.Parts) != 2 ||
			strings.Trim(listed.Parts[0].ETag, `"`) != strings.Trim(etag, `"`) || listed.Parts[1].ETag != "" {
			t.Errorf("resume: %d %q %+v", code, msg, listed.Parts)
		}
		u, err := s.Archive().Catalog().GetUpload(context.Background(), up.ID)
		if err != nil || u.MultipartID == "" {
			t.Fatalf("%+v %v", u, err)
		}
		uploads.SetSkew(s.Uploads(), s.Config.UploadTTL+time.Minute)
		defer uploads.SetSkew(s.Uploads(), 0)
		if n := uploads.CleanUploads(s.Uploads(), context.Background()); n != 1 {
			t.Errorf("cleaner removed %d uploads", n)
		}
		if _, err := st.ListParts(context.Background(), u.Key, u.MultipartID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("multipart upload not aborted: %v", err)
		}
		if _, keys := mirror(t, st, s.Archive().Store(), s.Config.S3Bucket, "raw/"+up.ID+"/"); len(keys) != 0 {
			t.Errorf("left in the bucket: %v", keys)
		}
	})
}

// TestUploadRecovery: after a restart with the in-process queue (its tasks gone), uploaded files
// still "processing" are transcoded again; an import whose download never finished fails.
func TestUploadRecovery(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	s := startArchive(t, nil)
	events := sse(t, s.Base)
	ctx := context.Background()
	file := mediaFile(t, testmedia.FileParams{Path: filepath.Join(t.TempDir(), "a.mp4"), Duration: 2 * time.Second})
	f, _ := os.Open(file)
	defer f.Close()
	if err := s.Archive().Store().Put(ctx, transcode.SourceKey("up1"), f, -1); err != nil {
		t.Fatal(err)
	}
	for _, r := range []catalog.Recording{
		{ID: "up1", Room: "shop", Title: "kept", StartedAt: time.Now(), Status: catalog.StatusProcessing, Source: catalog.SourceUpload},
		{ID: "im1", Room: "shop", Title: "lost", StartedAt: time.Now().Add(-2 * time.Hour), Status: catalog.StatusProcessing, Source: catalog.SourceImport},
		{ID: "im2", Room: "shop", Title: "maybe downloading elsewhere", StartedAt: time.Now(), Status: catalog.StatusProcessing, Source: catalog.SourceImport},
	} {
		if err := s.Archive().Catalog().Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A file transcoded whose "ready" was missed: its chunk is done, only the finalize is left.
	src := mediaFile(t, testmedia.FileParams{Path: filepath.Join(t.TempDir(), "b.mp4"), Duration: 2 * time.Second})
	h := transcode.NewHandler(transcode.HandlerParams{Store: s.Archive().Store(), Preset: "ultrafast", MaxRungs: 1})
	g, _ := os.Open(src)
	defer g.Close()
	if err := s.Archive().Store().Put(ctx, transcode.SourceKey("up2"), g, -1); err != nil {
		t.Fatal(err)
	}
	if err := h.File(ctx, transcode.FilePayload{RecordingID: "up2", Key: transcode.SourceKey("up2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Archive().Catalog().Put(ctx, catalog.Recording{ID: "up2", Room: "shop", StartedAt: time.Now(), Status: catalog.StatusProcessing, Source: catalog.SourceUpload}); err != nil {
		t.Fatal(err)
	}
	uploads.RecoverFiles(s.Uploads(), ctx)
	if r, _ := s.Archive().Catalog().Get(ctx, "im1"); r.Status != catalog.StatusFailed || !strings.Contains(r.Error, "interrupted") {
		t.Errorf("lost import: %+v", r)
	}
	ready := map[string]catalog.Recording{}
	deadline := time.After(90 * time.Second)
	for len(ready) < 2 {
		select {
		case e := <-events:
			var r catalog.Recording
			if e.Type == "recording" && json.Unmarshal(e.Data, &r) == nil && r.Status == catalog.StatusReady {
				ready[r.ID] = r
			}
		case <-deadline:
			t.Fatalf("ready: %v", ready)
		}
	}
	if len(ready["up2"].Renditions) != 1 {
		t.Errorf("finalized again: %+v", ready["up2"])
	}
	probeRenditions(t, s.Base+ready["up1"].HLSURL, ready["up1"], 2, true)
	if got, _ := s.Archive().Catalog().Get(ctx, "im2"); got.Status != catalog.StatusProcessing {
		t.Errorf("a young import was touched: %+v", got)
	}
}
