package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// Direct uploads. POST /api/uploads answers with the URLs the browser PUTs the file's parts to:
// presigned S3 URLs (one PutObject, or a multipart upload with a presigned UploadPart per part),
// or, with local storage, relaycast's own short-lived HMAC-signed URLs (handlePart). Pending
// uploads are rows in the catalog database; complete checks what arrived, assembles it into
// raw/ID/source, creates the recording and enqueues its transcode. Uploads not completed
// before they expire are removed from storage by cleanUploads (multipart uploads aborted).
//
//	POST /api/uploads                      {"room","title","filename","size","content_type"}
//	GET  /api/uploads/{id}                 resume: the same answer, received parts with "etag"
//	PUT  /api/uploads/{id}/parts/{n}?…     local storage only: the part's bytes
//	POST /api/uploads/{id}/complete        {"parts":[{"number","etag"}]}
//	POST /api/imports                      imports.go
//	PUT|DELETE /api/recordings/{id}/subtitles/{lang}   subtitles.go

// uploads is the archive's state for uploads and imports.
type uploads struct {
	s3     *storage.S3 // nil with local storage
	key    []byte      // HMAC key of local part URLs
	dir    string      // <data-dir>/uploads: local parts, one directory per upload
	client *http.Client
	skew   atomic.Int64 // tests move the clock forward (nanoseconds)
}

// completeGrace: an upload stuck "completing" (its server died during complete) is cleaned
// this long after it expired.
const completeGrace = time.Hour

// videoExts are the file extensions accepted for uploads (ffmpeg probes the content anyway).
var videoExts = map[string]bool{
	".mp4": true, ".m4v": true, ".mov": true, ".webm": true, ".mkv": true, ".avi": true, ".mpg": true, ".mpeg": true,
	".ts": true, ".m2ts": true, ".mts": true, ".3gp": true, ".flv": true, ".ogv": true, ".wmv": true,
}

func (a *archive) initUploads() error {
	a.up.dir = filepath.Join(a.cfg.DataDir, "uploads")
	if err := os.MkdirAll(a.up.dir, 0o700); err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	a.up.s3, _ = a.store.(*storage.S3)
	secret, _, err := auth.ResolveSecret(a.cfg.AuthSecret, a.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("relaycast upload part urls"))
	a.up.key = m.Sum(nil)
	a.up.client = importClient(a.cfg.ImportAllowLoopback)
	a.wg.Add(1)
	go a.runUploadCleaner()
	return nil
}

func (a *archive) registerUploads(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/uploads", a.handleCreateUpload)
	mux.HandleFunc("GET /api/uploads/{id}", a.handleGetUpload)
	mux.HandleFunc("PUT /api/uploads/{id}/parts/{n}", a.handlePart)
	mux.HandleFunc("POST /api/uploads/{id}/complete", a.handleComplete)
	mux.HandleFunc("POST /api/imports", a.handleImport)
	mux.HandleFunc("PUT /api/recordings/{id}/subtitles/{lang}", a.handlePutSubtitles)
	mux.HandleFunc("DELETE /api/recordings/{id}/subtitles/{lang}", a.handleDeleteSubtitles)
}

func (a *archive) now() time.Time { return time.Now().Add(time.Duration(a.up.skew.Load())) }

type uploadPart struct {
	Number int    `json:"number"`
	URL    string `json:"url,omitempty"`
	ETag   string `json:"etag,omitempty"`
}

type uploadResponse struct {
	ID          string       `json:"id"`
	ExpiresAt   time.Time    `json:"expires_at"`
	PartSize    int64        `json:"part_size"`
	Parts       []uploadPart `json:"parts"`
	CompleteURL string       `json:"complete_url"`
}

func (a *archive) handleCreateUpload(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Room        string `json:"room"`
		Title       string `json:"title"`
		Filename    string `json:"filename"`
		Size        int64  `json:"size"`
		ContentType string `json:"content_type"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "body must be JSON {room, title, filename, size, content_type}")
		return
	}
	if !signaling.ValidRoom(body.Room) {
		writeErr(w, http.StatusBadRequest, "room: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit")
		return
	}
	claims, ok := a.claims(w, r, body.Room, auth.GrantPublish)
	if !ok {
		return
	}
	ext := strings.ToLower(path.Ext(body.Filename))
	switch ct := strings.ToLower(strings.TrimSpace(body.ContentType)); {
	case body.Filename == "" || len(body.Filename) > 255 || strings.ContainsAny(body.Filename, "/\\\x00"):
		writeErr(w, http.StatusBadRequest, "filename: give the file's name (at most 255 bytes, no path)")
		return
	case !videoExts[ext]:
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("%q is not a video file: use one of %s", body.Filename, extList()))
		return
	case ct != "" && ct != "application/octet-stream" && !strings.HasPrefix(ct, "video/"):
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("content type %q is not a video type (video/*)", body.ContentType))
		return
	case body.Size <= 0:
		writeErr(w, http.StatusBadRequest, "size: give the file's size in bytes")
		return
	case body.Size > a.cfg.UploadMaxBytes:
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is %s; uploads may be at most %s", humanBytes(body.Size), humanBytes(a.cfg.UploadMaxBytes)))
		return
	}
	title := strings.TrimSpace(body.Title)
	if title == "" {
		title = strings.TrimSuffix(body.Filename, path.Ext(body.Filename))
	}
	if len(title) > 200 {
		writeErr(w, http.StatusBadRequest, "title must be at most 200 bytes")
		return
	}
	now := a.now()
	u := catalog.Upload{ID: recorder.NewID(body.Room, now), Room: body.Room, Title: title, Seller: claims.Subject,
		Filename: body.Filename, ContentType: body.ContentType, Size: body.Size, PartSize: a.cfg.UploadPartSize,
		CreatedAt: now, ExpiresAt: now.Add(a.cfg.UploadTTL).Truncate(time.Millisecond)}
	u.Key = transcode.SourceKey(u.ID)
	res := uploadResponse{ID: u.ID, ExpiresAt: u.ExpiresAt, PartSize: u.PartSize, CompleteURL: "/api/uploads/" + u.ID + "/complete"}
	ctx := r.Context()
	var err error
	if a.up.s3 != nil && u.Parts() > 1 {
		u.MultipartID, err = a.up.s3.CreateMultipart(ctx, u.Key)
	}
	if err == nil {
		res.Parts, err = a.partURLs(ctx, u)
	}
	if err == nil {
		err = a.cat.PutUpload(ctx, u)
	}
	if err != nil {
		a.discardUpload(context.WithoutCancel(ctx), u)
		writeErr(w, http.StatusBadGateway, "cannot start the upload: "+err.Error())
		return
	}
	a.log.Info("upload started", "upload", u.ID, "room", u.Room, "size", u.Size, "parts", len(res.Parts))
	writeJSON(w, http.StatusCreated, res)
}

// partURLs signs the URLs of every part of u, valid until it expires.
func (a *archive) partURLs(ctx context.Context, u catalog.Upload) ([]uploadPart, error) {
	var parts []uploadPart
	ttl := max(time.Second, u.ExpiresAt.Sub(a.now()))
	for i := 1; i <= u.Parts(); i++ {
		var url string
		var err error
		switch {
		case a.up.s3 == nil:
			url = a.partURL(u.ID, i, u.ExpiresAt)
		case u.MultipartID == "":
			url, err = a.up.s3.PresignPut(ctx, u.Key, u.Size, ttl)
		default:
			url, err = a.up.s3.PresignPart(ctx, u.Key, u.MultipartID, int32(i), u.PartLen(i), ttl)
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, uploadPart{Number: i, URL: url})
	}
	return parts, nil
}

// pendingUpload loads the upload named in the path for its room's publisher (or an admin),
// writing the error answer (404, 401/403, 410 expired) when there is none to go on with.
func (a *archive) pendingUpload(w http.ResponseWriter, r *http.Request) (catalog.Upload, bool) {
	u, err := a.cat.GetUpload(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such upload (unknown, expired and removed, or completed)")
		return u, false
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return u, false
	}
	if !a.authorize(w, r, u.Room, auth.GrantPublish) {
		return u, false
	}
	if a.now().After(u.ExpiresAt) {
		writeErr(w, http.StatusGone, "upload expired; start it again")
		return u, false
	}
	return u, true
}

// handleGetUpload resumes an upload: the same answer as POST /api/uploads (URLs signed again),
// where the parts that arrived carry their "etag" and need not be sent again.
func (a *archive) handleGetUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, ok := a.pendingUpload(w, r)
	if !ok {
		return
	}
	var err error
	res := uploadResponse{ID: u.ID, ExpiresAt: u.ExpiresAt, PartSize: u.PartSize, CompleteURL: "/api/uploads/" + u.ID + "/complete"}
	if res.Parts, err = a.partURLs(ctx, u); err != nil {
		writeErr(w, http.StatusBadGateway, "storage: "+err.Error())
		return
	}
	have, err := a.receivedParts(ctx, u)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "storage: "+err.Error())
		return
	}
	for i, h := range have {
		if h.ETag != "" && h.Size == u.PartLen(i+1) {
			res.Parts[i].ETag = h.ETag
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func extList() string {
	var l []string
	for e := range videoExts {
		l = append(l, e)
	}
	slices.Sort(l)
	return strings.Join(l, " ")
}

// ---- local part URLs ----

func (a *archive) partSig(id string, n int, exp int64) string {
	m := hmac.New(sha256.New, a.up.key)
	fmt.Fprintf(m, "%s\n%d\n%d", id, n, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (a *archive) partURL(id string, n int, exp time.Time) string {
	e := exp.Unix()
	return fmt.Sprintf("/api/uploads/%s/parts/%d?expires=%d&sig=%s", id, n, e, a.partSig(id, n, e))
}

func (a *archive) partFile(id string, n int) string {
	return filepath.Join(a.up.dir, filepath.Base(id), fmt.Sprintf("part-%06d", n))
}

// handlePart stores one part sent to a signed local URL: 403 bad signature, 410 expired, 413
// bigger than declared. The part goes to a temporary file renamed into place when it is
// complete; sending a part again replaces it (a failed part is simply retried). The ETag is
// the SHA-256 of the part, checked again by complete.
func (a *archive) handlePart(w http.ResponseWriter, r *http.Request) {
	id, q := r.PathValue("id"), r.URL.Query()
	n, err1 := strconv.Atoi(r.PathValue("n"))
	exp, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(a.partSig(id, n, exp))) {
		writeErr(w, http.StatusForbidden, "bad upload URL signature")
		return
	}
	if a.now().Unix() > exp {
		writeErr(w, http.StatusGone, "upload URL expired; start the upload again")
		return
	}
	u, err := a.cat.GetUpload(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusGone, "upload expired or already completed")
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	if u.State != catalog.UploadPending {
		writeErr(w, http.StatusConflict, "upload is being completed")
		return
	}
	if n < 1 || n > u.Parts() {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("part %d: the upload has parts 1..%d", n, u.Parts()))
		return
	}
	want := u.PartLen(n)
	if r.ContentLength > want {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("part %d is %d bytes; %d were declared", n, r.ContentLength, want))
		return
	}
	dst := a.partFile(id, n)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	h := sha256.New()
	got, err := tmp.ReadFrom(io.TeeReader(http.MaxBytesReader(w, r.Body, want+1), h))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || got > want:
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("part %d is bigger than the %d bytes declared", n, want))
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("part %d: reading the body: %v", n, err))
		return
	case got < want:
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("part %d: got %d bytes, want %d", n, got, want))
		return
	}
	etag := `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	if err := os.WriteFile(dst+".etag", []byte(etag), 0o600); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
}

// ---- complete ----

// errParts is a client error of complete (400): parts missing or not matching.
type errParts struct{ msg string }

func (e errParts) Error() string { return e.msg }

func partsErr(format string, args ...any) error { return errParts{fmt.Sprintf(format, args...)} }

func (a *archive) handleComplete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, ok := a.pendingUpload(w, r)
	if !ok {
		return
	}
	var body struct {
		Parts []uploadPart `json:"parts"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, `body must be JSON {"parts":[{"number":1,"etag":"…"}]}`)
		return
	}
	if ok, err := a.cat.SetUploadState(ctx, u.ID, catalog.UploadPending, catalog.UploadCompleting); err != nil || !ok {
		writeErr(w, http.StatusConflict, "upload is already being completed")
		return
	}
	// From here on the request's cancellation must not leave a half-done state behind.
	ctx = context.WithoutCancel(ctx)
	if err := a.assemble(ctx, u, body.Parts); err != nil {
		_, _ = a.cat.SetUploadState(ctx, u.ID, catalog.UploadCompleting, catalog.UploadPending) // fix and retry until it expires
		var pe errParts
		if errors.As(err, &pe) {
			writeErr(w, http.StatusBadRequest, pe.msg)
		} else {
			writeErr(w, http.StatusBadGateway, "storage: "+err.Error())
		}
		return
	}
	rec := catalog.Recording{ID: u.ID, Room: u.Room, Title: u.Title, Seller: u.Seller, StartedAt: a.now(),
		Status: catalog.StatusProcessing, Source: catalog.SourceUpload}
	if err := a.startFile(ctx, rec, u.Key); err != nil {
		writeErr(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err := a.cat.DeleteUpload(ctx, u.ID); err != nil {
		a.log.Warn("cannot delete the completed upload's row", "upload", u.ID, "err", err)
	}
	_ = os.RemoveAll(filepath.Join(a.up.dir, filepath.Base(u.ID)))
	a.log.Info("upload complete", "recording", u.ID, "size", u.Size)
	writeJSON(w, http.StatusAccepted, map[string]string{"recording_id": u.ID})
}

// checkParts matches the client's part list against what the storage holds (by number: size
// and ETag). have[n-1] is the stored part n (ETag "" = missing).
func checkParts(u catalog.Upload, sent []uploadPart, have []storage.Part) error {
	n := u.Parts()
	if len(sent) != n {
		return partsErr("the upload has %d parts; complete listed %d", n, len(sent))
	}
	for i, p := range sent {
		if p.Number != i+1 {
			return partsErr("parts must be listed in order 1..%d (entry %d is part %d)", n, i+1, p.Number)
		}
		h := have[i]
		switch {
		case h.ETag == "":
			return partsErr("part %d is missing: its PUT did not arrive", p.Number)
		case h.Size != u.PartLen(p.Number):
			return partsErr("part %d has %d bytes; %d were declared", p.Number, h.Size, u.PartLen(p.Number))
		case strings.Trim(h.ETag, `"`) != strings.Trim(p.ETag, `"`):
			return partsErr("part %d: ETag %s does not match the stored part (%s)", p.Number, p.ETag, h.ETag)
		}
	}
	return nil
}

// assemble verifies the parts and makes the source object u.Key out of them.
func (a *archive) assemble(ctx context.Context, u catalog.Upload, sent []uploadPart) error {
	have, err := a.receivedParts(ctx, u)
	if err != nil {
		return err
	}
	switch {
	case a.up.s3 == nil:
		if err := checkParts(u, sent, have); err != nil {
			return err
		}
		return a.putLocalParts(ctx, u)
	case u.MultipartID == "":
		size, err := a.up.s3.Size(ctx, u.Key)
		if errors.Is(err, storage.ErrNotFound) {
			return partsErr("part 1 is missing: its PUT did not arrive")
		}
		if err != nil {
			return err
		}
		have[0] = storage.Part{Number: 1, ETag: strings.Trim(sentETag(sent), `"`), Size: size}
		if err := checkParts(u, sent, have); err != nil {
			_ = a.store.DeletePrefix(ctx, u.Key) // a wrong size is not fixed by a retry of complete
			return err
		}
		return nil
	default:
		if err := checkParts(u, sent, have); err != nil {
			return err
		}
		if err := a.up.s3.CompleteMultipart(ctx, u.Key, u.MultipartID, have); err != nil {
			return err
		}
		if size, err := a.up.s3.Size(ctx, u.Key); err != nil || size != u.Size {
			_ = a.store.DeletePrefix(ctx, u.Key)
			return partsErr("assembled file has %d bytes, want %d (%v)", size, u.Size, err)
		}
		return nil
	}
}

// receivedParts lists the parts that arrived, by number (ETag "" = not yet). A single presigned
// PUT is not listed: its object appears whole or not at all.
func (a *archive) receivedParts(ctx context.Context, u catalog.Upload) ([]storage.Part, error) {
	have := make([]storage.Part, u.Parts())
	switch {
	case a.up.s3 == nil:
		for i := range have {
			st, err := os.Stat(a.partFile(u.ID, i+1))
			if err != nil {
				continue
			}
			etag, _ := os.ReadFile(a.partFile(u.ID, i+1) + ".etag")
			have[i] = storage.Part{Number: int32(i + 1), ETag: string(etag), Size: st.Size()}
		}
	case u.MultipartID != "":
		parts, err := a.up.s3.ListParts(ctx, u.Key, u.MultipartID)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if p.Number >= 1 && int(p.Number) <= len(have) {
				have[p.Number-1] = p
			}
		}
	}
	return have, nil
}

// sentETag: with one presigned PUT the client's ETag is taken as is (S3 checked the signed size).
func sentETag(sent []uploadPart) string {
	if len(sent) == 1 {
		return sent[0].ETag
	}
	return ""
}

// putLocalParts concatenates the local parts into the store.
func (a *archive) putLocalParts(ctx context.Context, u catalog.Upload) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	var readers []io.Reader
	for i := 1; i <= u.Parts(); i++ {
		f, err := os.Open(a.partFile(u.ID, i))
		if err != nil {
			return partsErr("part %d is missing: %v", i, err)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	return a.store.Put(ctx, u.Key, io.MultiReader(readers...), u.Size)
}

// startFile creates the catalog entry of an uploaded or imported file whose source is in
// storage under key, and enqueues its transcode.
func (a *archive) startFile(ctx context.Context, rec catalog.Recording, key string) error {
	if err := a.cat.Put(ctx, rec); err != nil {
		return err
	}
	a.publishRecording(rec.ID)
	return a.enqueueFile(ctx, rec.ID, key)
}

// enqueueFile enqueues the transcode of a stored source file (a failure marks it failed).
func (a *archive) enqueueFile(ctx context.Context, id, key string) error {
	a.mu.Lock()
	a.prog(id).total = 1 // one "chunk": progress events carry the overall percentage
	a.mu.Unlock()
	if err := a.queue.EnqueueFile(ctx, transcode.FilePayload{RecordingID: id, Key: key}); err != nil {
		a.setFailed(id, "queue: "+err.Error())
		return fmt.Errorf("cannot queue the transcode: %w", err)
	}
	return nil
}

// ---- expiry ----

func (a *archive) runUploadCleaner() {
	defer a.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		a.recoverFiles(a.ctx)
		a.cleanUploads(a.ctx)
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanUploads removes expired uploads: their parts (local files, S3 multipart upload, a
// single PUT's object) and their rows. It returns how many it removed.
func (a *archive) cleanUploads(ctx context.Context) int {
	expired, err := a.cat.ExpiredUploads(ctx, a.now(), completeGrace)
	if err != nil {
		a.log.Warn("expired uploads", "err", err)
		return 0
	}
	n := 0
	for _, u := range expired {
		if err := a.discardUpload(ctx, u); err != nil {
			a.log.Warn("cannot remove an expired upload; trying again later", "upload", u.ID, "err", err)
			continue
		}
		n++
		a.log.Info("expired upload removed", "upload", u.ID, "room", u.Room)
	}
	return n
}

// discardUpload removes whatever an unfinished upload left (never a recording's files).
func (a *archive) discardUpload(ctx context.Context, u catalog.Upload) error {
	if _, err := a.cat.Get(ctx, u.ID); err == nil {
		return a.cat.DeleteUpload(ctx, u.ID) // completed after all: the recording owns the files
	}
	if u.MultipartID != "" && a.up.s3 != nil {
		if err := a.up.s3.AbortMultipart(ctx, u.Key, u.MultipartID); err != nil {
			return err
		}
	}
	if err := a.store.DeletePrefix(ctx, "raw/"+u.ID+"/"); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(a.up.dir, filepath.Base(u.ID))); err != nil {
		return err
	}
	return a.cat.DeleteUpload(ctx, u.ID)
}

// humanBytes writes n in the largest fitting binary unit ("4 GiB", "1.5 MiB", "900 bytes").
func humanBytes(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v, u = v/1024, u+1
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".") + " " + units[u]
}

// recoverFiles (at start-up, then every minute) re-enqueues the work of uploaded and imported
// files still "processing": the in-process queue (no --redis-url) forgets its tasks on a
// restart. The TaskIDs make this a no-op for tasks the queue still has. A file transcoded
// whose "ready" was missed is finalized again; a source that never arrived in storage (the
// server stopped during an import's download) fails the recording once no download can still
// be running for it.
func (a *archive) recoverFiles(ctx context.Context) {
	cursor := ""
	for {
		page, err := a.cat.List(ctx, catalog.ListParams{Limit: 100, Cursor: cursor, Status: catalog.StatusProcessing})
		if err != nil {
			a.log.Warn("recover uploads", "err", err)
			return
		}
		for _, r := range page.Recordings {
			if r.Source != catalog.SourceUpload && r.Source != catalog.SourceImport {
				continue
			}
			src, _ := a.exists(ctx, transcode.SourceKey(r.ID))
			done, _ := a.exists(ctx, transcode.ChunkDoneKey(r.ID, 0))
			switch {
			case done:
				if err := a.queue.EnqueueFinalize(ctx, r.ID, 1); err != nil {
					a.log.Warn("recover uploads", "recording", r.ID, "err", err)
				}
			case src:
				_ = a.enqueueFile(ctx, r.ID, transcode.SourceKey(r.ID))
			case time.Since(r.StartedAt) > a.cfg.ImportTimeout+time.Minute:
				a.setFailed(r.ID, "interrupted: the server stopped before the file was stored; upload or import it again")
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return
		}
	}
}
