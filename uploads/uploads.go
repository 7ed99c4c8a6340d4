package uploads

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// Direct uploads. POST /api/uploads answers with the URLs the browser PUTs the file's parts to:
// presigned S3 URLs (one PutObject, or a multipart upload with a presigned UploadPart per part),
// or, with local storage, relaycast's own short-lived HMAC-signed URLs (PutPart). Pending
// uploads are rows in the catalog database; complete checks what arrived, assembles it into
// raw/ID/source, creates the recording and enqueues its transcode. Uploads not completed
// before they expire are removed from storage by cleanUploads (multipart uploads aborted).
// The routes are listed in httpapi.API.Register.

// Pipeline is what uploads need of the recording pipeline (archive.Archive): the transcode
// queue, and the events that tell SSE clients about a recording.
type Pipeline interface {
	EnqueueFile(ctx context.Context, id, key string) error
	EnqueueFinalize(ctx context.Context, id string, chunks int) error
	Exists(ctx context.Context, key string) (bool, error)
	SetFailed(id, msg string)
	PublishRecording(id string)
	Publish(typ, id string, data any)
}

// Catalog is what the uploads need of the catalog (a catalog.Store): the recordings they
// create and their pending uploads.
type Catalog interface {
	Put(ctx context.Context, r catalog.Recording) error
	Get(ctx context.Context, id string) (catalog.Recording, error)
	Update(ctx context.Context, id string, fn func(*catalog.Recording) error) (catalog.Recording, error)
	List(ctx context.Context, p catalog.ListParams) (catalog.Page, error)
	PutUpload(ctx context.Context, u catalog.Upload) error
	GetUpload(ctx context.Context, id string) (catalog.Upload, error)
	SetUploadState(ctx context.Context, id string, from, to catalog.UploadState) (bool, error)
	DeleteUpload(ctx context.Context, id string) error
	ExpiredUploads(ctx context.Context, now time.Time, grace time.Duration) ([]catalog.Upload, error)
}

// PartKeyPurpose is the purpose of the key that signs local part URLs (auth.Signer.DeriveKey).
const PartKeyPurpose = "relaycast upload part urls"

// Params configures a Service.
type Params struct {
	Config config.Config
	Logger *slog.Logger
	// PartKey signs the URLs of local parts (auth.Signer.DeriveKey).
	PartKey  []byte
	Catalog  Catalog
	Store    storage.Storage
	Pipeline Pipeline
}

// Service owns direct uploads, URL imports and subtitles: their pending state (catalog rows,
// local parts under <data-dir>/uploads), the import downloads and the cleaner of expired
// uploads. Close stops them.
type Service struct {
	cfg   config.Config
	log   *slog.Logger
	cat   Catalog
	store storage.Storage
	pipe  Pipeline

	s3     *storage.S3 // nil with local storage
	key    []byte      // HMAC key of local part URLs
	dir    string      // <data-dir>/uploads: local parts, one directory per upload
	client *http.Client
	skew   atomic.Int64 // tests move the clock forward (nanoseconds)

	ctx       context.Context // downloads of imports outlive their request
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// completeGrace: an upload stuck "completing" (its server died during complete) is cleaned
// this long after it expired.
const completeGrace = time.Hour

// videoExts are the file extensions accepted for uploads (ffmpeg probes the content anyway).
var videoExts = map[string]bool{
	".mp4": true, ".m4v": true, ".mov": true, ".webm": true, ".mkv": true, ".avi": true, ".mpg": true, ".mpeg": true,
	".ts": true, ".m2ts": true, ".mts": true, ".3gp": true, ".flv": true, ".ogv": true, ".wmv": true,
}

// New prepares the uploads directory and starts the cleaner of expired uploads (which also
// recovers the uploads and imports a restart interrupted).
func New(p Params) (*Service, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: p.Config, log: p.Logger.With("component", "uploads"), cat: p.Catalog, store: p.Store,
		pipe: p.Pipeline, key: p.PartKey}
	s.dir = filepath.Join(s.cfg.DataDir, "uploads")
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	s.s3, _ = s.store.(*storage.S3)
	s.client = importClient(s.cfg.ImportAllowLoopback)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.runUploadCleaner()
	return s, nil
}

// Close stops the cleaner and the import downloads, and waits for them.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
}

func (s *Service) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// Part is one part of an upload: its URL to PUT to, and once it arrived its ETag.
type Part struct {
	Number int    `json:"number"`
	URL    string `json:"url,omitempty"`
	ETag   string `json:"etag,omitempty"`
}

// Response answers POST /api/uploads and GET /api/uploads/{id}.
type Response struct {
	ID          string    `json:"id"`
	ExpiresAt   time.Time `json:"expires_at"`
	PartSize    int64     `json:"part_size"`
	Parts       []Part    `json:"parts"`
	CompleteURL string    `json:"complete_url"`
}

// Request is the body of POST /api/uploads.
type Request struct {
	Room        string `json:"room"`
	Title       string `json:"title"`
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// Create starts an upload of body (its room checked by the caller) for seller: it checks the
// file's name, type and size, and returns the URLs to PUT the parts to.
func (s *Service) Create(ctx context.Context, body Request, seller string) (Response, error) {
	ext := strings.ToLower(path.Ext(body.Filename))
	switch ct := strings.ToLower(strings.TrimSpace(body.ContentType)); {
	case body.Filename == "" || len(body.Filename) > 255 || strings.ContainsAny(body.Filename, "/\\\x00"):
		return Response{}, fail(ErrInvalid, "filename: give the file's name (at most 255 bytes, no path)")
	case !videoExts[ext]:
		return Response{}, fail(ErrInvalid, "%q is not a video file: use one of %s", body.Filename, extList())
	case ct != "" && ct != "application/octet-stream" && !strings.HasPrefix(ct, "video/"):
		return Response{}, fail(ErrInvalid, "content type %q is not a video type (video/*)", body.ContentType)
	case body.Size <= 0:
		return Response{}, fail(ErrInvalid, "size: give the file's size in bytes")
	case body.Size > s.cfg.UploadMaxBytes:
		return Response{}, fail(ErrTooBig, "the file is %s; uploads may be at most %s", humanBytes(body.Size), humanBytes(s.cfg.UploadMaxBytes))
	}
	title := strings.TrimSpace(body.Title)
	if title == "" {
		title = strings.TrimSuffix(body.Filename, path.Ext(body.Filename))
	}
	if len(title) > 200 {
		return Response{}, fail(ErrInvalid, "title must be at most 200 bytes")
	}
	now := s.now()
	u := catalog.Upload{ID: recorder.NewID(body.Room, now), Room: body.Room, Title: title, Seller: seller,
		Filename: body.Filename, ContentType: body.ContentType, Size: body.Size, PartSize: s.cfg.UploadPartSize,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.UploadTTL).Truncate(time.Millisecond)}
	u.Key = transcode.SourceKey(u.ID)
	res := Response{ID: u.ID, ExpiresAt: u.ExpiresAt, PartSize: u.PartSize, CompleteURL: "/api/uploads/" + u.ID + "/complete"}
	var err error
	if s.s3 != nil && u.Parts() > 1 {
		u.MultipartID, err = s.s3.CreateMultipart(ctx, u.Key)
	}
	if err == nil {
		res.Parts, err = s.partURLs(ctx, u)
	}
	if err == nil {
		err = s.cat.PutUpload(ctx, u)
	}
	if err != nil {
		s.discardUpload(context.WithoutCancel(ctx), u)
		return Response{}, fail(ErrStorage, "cannot start the upload: %v", err)
	}
	s.log.Info("upload started", "upload", u.ID, "room", u.Room, "size", u.Size, "parts", len(res.Parts))
	return res, nil
}

// partURLs signs the URLs of every part of u, valid until it expires.
func (s *Service) partURLs(ctx context.Context, u catalog.Upload) ([]Part, error) {
	var parts []Part
	ttl := max(time.Second, u.ExpiresAt.Sub(s.now()))
	for i := 1; i <= u.Parts(); i++ {
		var url string
		var err error
		switch {
		case s.s3 == nil:
			url = s.partURL(u.ID, i, u.ExpiresAt)
		case u.MultipartID == "":
			url, err = s.s3.PresignPut(ctx, u.Key, u.Size, ttl)
		default:
			url, err = s.s3.PresignPart(ctx, u.Key, u.MultipartID, int32(i), u.PartLen(i), ttl)
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, Part{Number: i, URL: url})
	}
	return parts, nil
}

// Get is the pending upload id: ErrNotFound when there is none (unknown, expired and removed,
// or completed).
func (s *Service) Get(ctx context.Context, id string) (catalog.Upload, error) {
	u, err := s.cat.GetUpload(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return u, fail(ErrNotFound, "no such upload (unknown, expired and removed, or completed)")
	}
	return u, err
}

// CheckPending fails with ErrGone once u expired.
func (s *Service) CheckPending(u catalog.Upload) error {
	if s.now().After(u.ExpiresAt) {
		return fail(ErrGone, "upload expired; start it again")
	}
	return nil
}

// Resume is the answer of GET /api/uploads/{id}: the same as Create's (URLs signed again),
// where the parts that arrived carry their "etag" and need not be sent again.
func (s *Service) Resume(ctx context.Context, u catalog.Upload) (Response, error) {
	var err error
	res := Response{ID: u.ID, ExpiresAt: u.ExpiresAt, PartSize: u.PartSize, CompleteURL: "/api/uploads/" + u.ID + "/complete"}
	if res.Parts, err = s.partURLs(ctx, u); err != nil {
		return res, fail(ErrStorage, "storage: %v", err)
	}
	have, err := s.receivedParts(ctx, u)
	if err != nil {
		return res, fail(ErrStorage, "storage: %v", err)
	}
	for i, h := range have {
		if h.ETag != "" && h.Size == u.PartLen(i+1) {
			res.Parts[i].ETag = h.ETag
		}
	}
	return res, nil
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

func (s *Service) partSig(id string, n int, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%d\n%d", id, n, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Service) partURL(id string, n int, exp time.Time) string {
	e := exp.Unix()
	return fmt.Sprintf("/api/uploads/%s/parts/%d?expires=%d&sig=%s", id, n, e, s.partSig(id, n, e))
}

func (s *Service) partFile(id string, n int) string {
	return filepath.Join(s.dir, filepath.Base(id), fmt.Sprintf("part-%06d", n))
}

// PutPart stores part n (a decimal string) of upload id sent to a signed local URL (expires,
// sig: its query): ErrBadSignature, ErrGone expired, ErrTooBig bigger than declared. The part
// goes to a temporary file renamed into place when it is complete; sending a part again
// replaces it (a failed part is simply retried). The ETag is the SHA-256 of the part, checked
// again by complete. contentLength is the request's (-1 unknown).
func (s *Service) PutPart(ctx context.Context, id, part, expires, sig string, body io.Reader, contentLength int64) (etag string, err error) {
	n, err1 := strconv.Atoi(part)
	exp, err2 := strconv.ParseInt(expires, 10, 64)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(sig), []byte(s.partSig(id, n, exp))) {
		return "", fail(ErrBadSignature, "bad upload URL signature")
	}
	if s.now().Unix() > exp {
		return "", fail(ErrGone, "upload URL expired; start the upload again")
	}
	u, err := s.cat.GetUpload(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return "", fail(ErrGone, "upload expired or already completed")
	}
	if err != nil {
		return "", err
	}
	if u.State != catalog.UploadPending {
		return "", fail(ErrBusy, "upload is being completed")
	}
	if n < 1 || n > u.Parts() {
		return "", fail(ErrInvalid, "part %d: the upload has parts 1..%d", n, u.Parts())
	}
	want := u.PartLen(n)
	if contentLength > want {
		return "", fail(ErrTooBig, "part %d is %d bytes; %d were declared", n, contentLength, want)
	}
	dst := s.partFile(id, n)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	h := sha256.New()
	got, err := tmp.ReadFrom(io.TeeReader(io.LimitReader(body, want+1), h))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || got > want:
		return "", fail(ErrTooBig, "part %d is bigger than the %d bytes declared", n, want)
	case err != nil:
		return "", fail(ErrInvalid, "part %d: reading the body: %v", n, err)
	case got < want:
		return "", fail(ErrInvalid, "part %d: got %d bytes, want %d", n, got, want)
	}
	etag = `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	if err := os.WriteFile(dst+".etag", []byte(etag), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return etag, nil
}

// ---- complete ----

// errParts is a client error of complete (400): parts missing or not matching.
type errParts struct{ msg string }

func (e errParts) Error() string { return e.msg }
func (e errParts) Unwrap() error { return ErrInvalid }

func partsErr(format string, args ...any) error { return errParts{fmt.Sprintf(format, args...)} }

// Complete assembles the parts of the pending upload u (sent: the client's list, checked
// against what arrived), creates its recording and enqueues its transcode; it returns the
// recording's id (ErrBusy, ErrInvalid parts, ErrStorage, ErrUnavailable queue).
func (s *Service) Complete(ctx context.Context, u catalog.Upload, sent []Part) (string, error) {
	if ok, err := s.cat.SetUploadState(ctx, u.ID, catalog.UploadPending, catalog.UploadCompleting); err != nil || !ok {
		return "", fail(ErrBusy, "upload is already being completed")
	}
	// From here on the request's cancellation must not leave a half-done state behind.
	ctx = context.WithoutCancel(ctx)
	if err := s.assemble(ctx, u, sent); err != nil {
		_, _ = s.cat.SetUploadState(ctx, u.ID, catalog.UploadCompleting, catalog.UploadPending) // fix and retry until it expires
		var pe errParts
		if errors.As(err, &pe) {
			return "", pe
		}
		return "", fail(ErrStorage, "storage: %v", err)
	}
	rec := catalog.Recording{ID: u.ID, Room: u.Room, Title: u.Title, Seller: u.Seller, StartedAt: s.now(),
		Status: catalog.StatusProcessing, Source: catalog.SourceUpload}
	if err := s.startFile(ctx, rec, u.Key); err != nil {
		return "", fail(ErrUnavailable, "%v", err)
	}
	if err := s.cat.DeleteUpload(ctx, u.ID); err != nil {
		s.log.Warn("cannot delete the completed upload's row", "upload", u.ID, "err", err)
	}
	_ = os.RemoveAll(filepath.Join(s.dir, filepath.Base(u.ID)))
	s.log.Info("upload complete", "recording", u.ID, "size", u.Size)
	return u.ID, nil
}

// checkParts matches the client's part list against what the storage holds (by number: size
// and ETag). have[n-1] is the stored part n (ETag "" = missing).
func checkParts(u catalog.Upload, sent []Part, have []storage.Part) error {
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
func (s *Service) assemble(ctx context.Context, u catalog.Upload, sent []Part) error {
	have, err := s.receivedParts(ctx, u)
	if err != nil {
		return err
	}
	switch {
	case s.s3 == nil:
		if err := checkParts(u, sent, have); err != nil {
			return err
		}
		return s.putLocalParts(ctx, u)
	case u.MultipartID == "":
		size, err := s.s3.Size(ctx, u.Key)
		if errors.Is(err, storage.ErrNotFound) {
			return partsErr("part 1 is missing: its PUT did not arrive")
		}
		if err != nil {
			return err
		}
		have[0] = storage.Part{Number: 1, ETag: strings.Trim(sentETag(sent), `"`), Size: size}
		if err := checkParts(u, sent, have); err != nil {
			_ = s.store.DeletePrefix(ctx, u.Key) // a wrong size is not fixed by a retry of complete
			return err
		}
		return nil
	default:
		if err := checkParts(u, sent, have); err != nil {
			return err
		}
		if err := s.s3.CompleteMultipart(ctx, u.Key, u.MultipartID, have); err != nil {
			return err
		}
		if size, err := s.s3.Size(ctx, u.Key); err != nil || size != u.Size {
			_ = s.store.DeletePrefix(ctx, u.Key)
			return partsErr("assembled file has %d bytes, want %d (%v)", size, u.Size, err)
		}
		return nil
	}
}

// receivedParts lists the parts that arrived, by number (ETag "" = not yet). A single presigned
// PUT is not listed: its object appears whole or not at all.
func (s *Service) receivedParts(ctx context.Context, u catalog.Upload) ([]storage.Part, error) {
	have := make([]storage.Part, u.Parts())
	switch {
	case s.s3 == nil:
		for i := range have {
			st, err := os.Stat(s.partFile(u.ID, i+1))
			if err != nil {
				continue
			}
			etag, _ := os.ReadFile(s.partFile(u.ID, i+1) + ".etag")
			have[i] = storage.Part{Number: int32(i + 1), ETag: string(etag), Size: st.Size()}
		}
	case u.MultipartID != "":
		parts, err := s.s3.ListParts(ctx, u.Key, u.MultipartID)
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
func sentETag(sent []Part) string {
	if len(sent) == 1 {
		return sent[0].ETag
	}
	return ""
}

// putLocalParts concatenates the local parts into the store.
func (s *Service) putLocalParts(ctx context.Context, u catalog.Upload) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	var readers []io.Reader
	for i := 1; i <= u.Parts(); i++ {
		f, err := os.Open(s.partFile(u.ID, i))
		if err != nil {
			return partsErr("part %d is missing: %v", i, err)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	return s.store.Put(ctx, u.Key, io.MultiReader(readers...), u.Size)
}

// startFile creates the catalog entry of an uploaded or imported file whose source is in
// storage under key, and enqueues its transcode.
func (s *Service) startFile(ctx context.Context, rec catalog.Recording, key string) error {
	if err := s.cat.Put(ctx, rec); err != nil {
		return err
	}
	s.pipe.PublishRecording(rec.ID)
	return s.pipe.EnqueueFile(ctx, rec.ID, key)
}

// ---- expiry ----

func (s *Service) runUploadCleaner() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		s.recoverFiles(s.ctx)
		s.cleanUploads(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanUploads removes expired uploads: their parts (local files, S3 multipart upload, a
// single PUT's object) and their rows. It returns how many it removed.
func (s *Service) cleanUploads(ctx context.Context) int {
	expired, err := s.cat.ExpiredUploads(ctx, s.now(), completeGrace)
	if err != nil {
		s.log.Warn("expired uploads", "err", err)
		return 0
	}
	n := 0
	for _, u := range expired {
		if err := s.discardUpload(ctx, u); err != nil {
			s.log.Warn("cannot remove an expired upload; trying again later", "upload", u.ID, "err", err)
			continue
		}
		n++
		s.log.Info("expired upload removed", "upload", u.ID, "room", u.Room)
	}
	return n
}

// discardUpload removes whatever an unfinished upload left (never a recording's files).
func (s *Service) discardUpload(ctx context.Context, u catalog.Upload) error {
	if _, err := s.cat.Get(ctx, u.ID); err == nil {
		return s.cat.DeleteUpload(ctx, u.ID) // completed after all: the recording owns the files
	}
	if u.MultipartID != "" && s.s3 != nil {
		if err := s.s3.AbortMultipart(ctx, u.Key, u.MultipartID); err != nil {
			return err
		}
	}
	if err := s.store.DeletePrefix(ctx, "raw/"+u.ID+"/"); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.dir, filepath.Base(u.ID))); err != nil {
		return err
	}
	return s.cat.DeleteUpload(ctx, u.ID)
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
func (s *Service) recoverFiles(ctx context.Context) {
	cursor := ""
	for {
		page, err := s.cat.List(ctx, catalog.ListParams{Limit: 100, Cursor: cursor, Status: catalog.StatusProcessing})
		if err != nil {
			s.log.Warn("recover uploads", "err", err)
			return
		}
		for _, r := range page.Recordings {
			if r.Source != catalog.SourceUpload && r.Source != catalog.SourceImport {
				continue
			}
			src, _ := s.pipe.Exists(ctx, transcode.SourceKey(r.ID))
			done, _ := s.pipe.Exists(ctx, transcode.ChunkDoneKey(r.ID, 0))
			switch {
			case done:
				if err := s.pipe.EnqueueFinalize(ctx, r.ID, 1); err != nil {
					s.log.Warn("recover uploads", "recording", r.ID, "err", err)
				}
			case src:
				_ = s.pipe.EnqueueFile(ctx, r.ID, transcode.SourceKey(r.ID))
			case time.Since(r.StartedAt) > s.cfg.ImportTimeout+time.Minute:
				s.pipe.SetFailed(r.ID, "interrupted: the server stopped before the file was stored; upload or import it again")
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return
		}
	}
}
