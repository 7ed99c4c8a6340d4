package uploads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/netguard"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/transcode"
)

// URL import (admin): POST /api/imports {"url","title","room"}. relaycast fetches the URL with a
// client that refuses internal addresses on every connection it opens (so redirects and DNS
// answers that change between lookups are covered), answers 202 once the remote sent 200 with a
// plausible body, and streams the body into storage in the background (size and time limits),
// then transcodes it like an upload.

// ImportRoom is the room of imports that name none.
const ImportRoom = "imports"

// addressProblem says why ip may not be fetched from ("" when it may).
func addressProblem(ip netip.Addr, allowLoopback bool) string {
	return netguard.Problem(ip, allowLoopback)
}

// importClient is the HTTP client of URL imports: no proxy from the environment, every dial
// checked against addressProblem, at most 5 redirects and only to http(s).
func importClient(allowLoopback bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: netguard.Control(allowLoopback, ErrAddressNotAllowed)}
	tr := &http.Transport{
		Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns: 10, IdleConnTimeout: 30 * time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %s: URL", req.URL.Scheme)
		}
		return nil
	}}
}

// ImportRequest is the body of POST /api/imports.
type ImportRequest struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	Room  string `json:"room"`
}

// Import starts the import of body.URL into body.Room (checked by the caller; "" = ImportRoom)
// for seller and returns the new recording's id once the remote answered 200 with a plausible
// body; the download goes on in the background.
func (s *Service) Import(ctx context.Context, body ImportRequest, seller string) (string, error) {
	if body.Room == "" {
		body.Room = ImportRoom
	}
	u, err := url.Parse(strings.TrimSpace(body.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(body.URL) > 4096 {
		return "", fail(ErrInvalid, "url: give an http:// or https:// URL of a video file")
	}
	title := strings.TrimSpace(body.Title)
	if title == "" {
		title = path.Base(u.Path)
		if title == "/" || title == "." {
			title = u.Host
		}
	}
	if len(title) > 200 {
		return "", fail(ErrInvalid, "title must be at most 200 bytes")
	}

	if s.ctx.Err() != nil {
		return "", fail(ErrUnavailable, "the server is shutting down")
	}
	// The download outlives the request: it runs under the service's context.
	dctx, cancel := context.WithTimeout(s.ctx, s.cfg.ImportTimeout)
	req, _ := http.NewRequestWithContext(dctx, http.MethodGet, u.String(), nil)
	req.Header.Set("User-Agent", "relaycast-import/1")
	res, err := s.client.Do(req)
	if err != nil {
		cancel()
		if errors.Is(err, ErrAddressNotAllowed) {
			var ue *url.Error
			msg := err.Error()
			if errors.As(err, &ue) {
				msg = ue.Err.Error()
			}
			if i := strings.Index(msg, ErrAddressNotAllowed.Error()); i >= 0 {
				msg = msg[i:]
			}
			return "", fail(ErrAddressNotAllowed, "%s", msg)
		}
		return "", fail(ErrUpstream, "fetching URL: %v", err)
	}
	failed := func(err error) (string, error) {
		_ = res.Body.Close()
		cancel()
		return "", err
	}
	ct := strings.ToLower(res.Header.Get("Content-Type"))
	switch {
	case res.StatusCode != http.StatusOK:
		return failed(fail(ErrUpstream, "fetching URL: %s", res.Status))
	case res.ContentLength > s.cfg.ImportMaxBytes:
		return failed(fail(ErrTooBig, "the file is %s; imports may be at most %s", humanBytes(res.ContentLength), humanBytes(s.cfg.ImportMaxBytes)))
	case strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "application/json"):
		return failed(fail(ErrInvalid, "the URL answered with %s, not a video file", res.Header.Get("Content-Type")))
	}
	id := recorder.NewID(body.Room, s.now())
	key := transcode.SourceKey(id)
	rec := catalog.Recording{ID: id, Room: body.Room, Title: title, Seller: seller, StartedAt: s.now(),
		Status: catalog.StatusProcessing, Source: catalog.SourceImport}
	if err := s.cat.Put(ctx, rec); err != nil {
		return failed(err)
	}
	s.pipe.PublishRecording(id)
	s.log.Info("import started", "recording", id, "url", u.Redacted(), "size", res.ContentLength)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer res.Body.Close()
		s.fetchImport(dctx, rec, key, res)
	}()
	return id, nil
}

// fetchImport streams an import's body into storage and enqueues its transcode; a failure
// marks the recording failed and removes what was stored.
func (s *Service) fetchImport(ctx context.Context, rec catalog.Recording, key string, res *http.Response) {
	body := &limitReader{r: res.Body, left: s.cfg.ImportMaxBytes}
	err := s.store.Put(ctx, key, body, res.ContentLength)
	if err == nil && res.ContentLength > 0 && body.read != res.ContentLength {
		err = fmt.Errorf("the download ended after %d of %d bytes", body.read, res.ContentLength)
	}
	if err != nil {
		msg := "import: " + err.Error()
		switch {
		case errors.Is(err, ErrTooBig):
			msg = fmt.Sprintf("import: the file is bigger than %s", humanBytes(s.cfg.ImportMaxBytes))
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			msg = fmt.Sprintf("import: the download took longer than %v", s.cfg.ImportTimeout)
		}
		s.log.Warn("import failed", "recording", rec.ID, "err", err)
		_ = s.store.DeletePrefix(context.WithoutCancel(ctx), "raw/"+rec.ID+"/")
		s.pipe.SetFailed(rec.ID, msg)
		return
	}
	s.log.Info("import downloaded", "recording", rec.ID, "bytes", body.read)
	_ = s.pipe.EnqueueFile(ctx, rec.ID, key)
}

// limitReader fails with ErrTooBig once more than left bytes were read.
type limitReader struct {
	r    io.Reader
	left int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.left {
		return n, ErrTooBig
	}
	return n, err
}
