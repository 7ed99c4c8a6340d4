package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/transcode"
)

// URL import (admin): POST /api/imports {"url","title","room"}. relaycast fetches the URL with a
// client that refuses internal addresses on every connection it opens (so redirects and DNS
// answers that change between lookups are covered), answers 202 once the remote sent 200 with a
// plausible body, and streams the body into storage in the background (size and time limits),
// then transcodes it like an upload.

// importRoom is the room of imports that name none.
const importRoom = "imports"

// blockedPrefixes are internal ranges net/netip has no predicate for.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (checked unmapped too)
	netip.MustParsePrefix("2002::/16"),      // 6to4 may embed any IPv4 address
	netip.MustParsePrefix("2001::/32"),      // Teredo, likewise
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (also by IsLinkLocalUnicast)
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast
	netip.MustParsePrefix("255.255.255.255/32"),
}

// addressProblem says why ip may not be fetched from ("" when it may).
func addressProblem(ip netip.Addr, allowLoopback bool) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not an IP address"
	case ip.IsLoopback():
		if allowLoopback {
			return ""
		}
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

// importClient is the HTTP client of URL imports: no proxy from the environment, every dial
// checked against addressProblem, at most 5 redirects and only to http(s).
func importClient(allowLoopback bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrAddressNotAllowed, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrAddressNotAllowed, host)
			}
			if why := addressProblem(ip, allowLoopback); why != "" {
				return fmt.Errorf("%w: %s is %s", ErrAddressNotAllowed, ip.Unmap(), why)
			}
			return nil
		}}
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

func (a *archive) handleImport(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL   string `json:"url"`
		Title string `json:"title"`
		Room  string `json:"room"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "body must be JSON {url, title, room}")
		return
	}
	if body.Room == "" {
		body.Room = importRoom
	}
	if !signaling.ValidRoom(body.Room) {
		writeErr(w, http.StatusBadRequest, "room: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit")
		return
	}
	claims, ok := a.claims(w, r, body.Room, auth.GrantAdmin)
	if !ok {
		return
	}
	u, err := url.Parse(strings.TrimSpace(body.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(body.URL) > 4096 {
		writeErr(w, http.StatusBadRequest, "url: give an http:// or https:// URL of a video file")
		return
	}
	title := strings.TrimSpace(body.Title)
	if title == "" {
		title = path.Base(u.Path)
		if title == "/" || title == "." {
			title = u.Host
		}
	}
	if len(title) > 200 {
		writeErr(w, http.StatusBadRequest, "title must be at most 200 bytes")
		return
	}

	if a.ctx.Err() != nil {
		writeErr(w, http.StatusServiceUnavailable, "the server is shutting down")
		return
	}
	// The download outlives the request: it runs under the archive's context.
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.ImportTimeout)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("User-Agent", "relaycast-import/1")
	res, err := a.up.client.Do(req)
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
			writeErr(w, http.StatusBadRequest, msg)
			return
		}
		writeErr(w, http.StatusBadGateway, "fetching URL: "+err.Error())
		return
	}
	fail := func(code int, msg string) {
		_ = res.Body.Close()
		cancel()
		writeErr(w, code, msg)
	}
	ct := strings.ToLower(res.Header.Get("Content-Type"))
	switch {
	case res.StatusCode != http.StatusOK:
		fail(http.StatusBadGateway, "fetching URL: "+res.Status)
		return
	case res.ContentLength > a.cfg.ImportMaxBytes:
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is %s; imports may be at most %s", humanBytes(res.ContentLength), humanBytes(a.cfg.ImportMaxBytes)))
		return
	case strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "application/json"):
		fail(http.StatusBadRequest, fmt.Sprintf("the URL answered with %s, not a video file", res.Header.Get("Content-Type")))
		return
	}
	id := recorder.NewID(body.Room, a.now())
	key := transcode.SourceKey(id)
	rec := catalog.Recording{ID: id, Room: body.Room, Title: title, Seller: claims.Subject, StartedAt: a.now(),
		Status: catalog.StatusProcessing, Source: catalog.SourceImport}
	if err := a.cat.Put(r.Context(), rec); err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	a.publishRecording(id)
	a.log.Info("import started", "recording", id, "url", u.Redacted(), "size", res.ContentLength)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		defer res.Body.Close()
		a.fetchImport(ctx, rec, key, res)
	}()
	writeJSON(w, http.StatusAccepted, map[string]string{"recording_id": id})
}

// fetchImport streams an import's body into storage and enqueues its transcode; a failure
// marks the recording failed and removes what was stored.
func (a *archive) fetchImport(ctx context.Context, rec catalog.Recording, key string, res *http.Response) {
	body := &limitReader{r: res.Body, left: a.cfg.ImportMaxBytes}
	err := a.store.Put(ctx, key, body, res.ContentLength)
	if err == nil && res.ContentLength > 0 && body.read != res.ContentLength {
		err = fmt.Errorf("the download ended after %d of %d bytes", body.read, res.ContentLength)
	}
	if err != nil {
		msg := "import: " + err.Error()
		switch {
		case errors.Is(err, ErrTooBig):
			msg = fmt.Sprintf("import: the file is bigger than %s", humanBytes(a.cfg.ImportMaxBytes))
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			msg = fmt.Sprintf("import: the download took longer than %v", a.cfg.ImportTimeout)
		}
		a.log.Warn("import failed", "recording", rec.ID, "err", err)
		_ = a.store.DeletePrefix(context.WithoutCancel(ctx), "raw/"+rec.ID+"/")
		a.setFailed(rec.ID, msg)
		return
	}
	a.log.Info("import downloaded", "recording", rec.ID, "bytes", body.read)
	_ = a.enqueueFile(ctx, rec.ID, key)
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
