package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HLS viewers (docs/LLHLS.md, "Load"): --hls-viewers N clients that read the room's live
// LL-HLS the way hls.js does in low-latency mode — the multivariant playlist once, then, in a
// loop, the preload-hinted part (held by the server until it is complete) and a blocking delta
// reload for the part after it (_HLS_msn, _HLS_part, _HLS_skip=YES) — so the server holds about
// two blocking requests per viewer at all times. Each client runs until the run ends.

// HLSSummary is the HLS viewers' figures over the hold window.
type HLSSummary struct {
	Target        int     `json:"target"`
	Active        int64   `json:"active"` // reading parts at the end
	Parts         int64   `json:"parts"`  // parts received in the hold window
	Playlists     int64   `json:"playlists"`
	Errors        int64   `json:"errors"`
	MbpsPerViewer float64 `json:"mbps_per_viewer"`
	// PartWait: the hinted part's request → its last byte (the server holds it until the part
	// is complete: about one part duration at the live edge).
	PartWait Dist `json:"part_wait_ms"`
	// Reload: a blocking reload → its answer (the part it names is usually there already).
	Reload      Dist     `json:"reload_ms"`
	FirstErrors []string `json:"first_errors,omitempty"`
}

type hlsPool struct {
	p  Params
	hc *http.Client // a client per viewer when the server is on loopback (clientFor)

	parts, playlists, errs, bytes, active atomic.Int64
	partWait, reload                      hist

	mu      sync.Mutex
	errList []string
	wg      sync.WaitGroup
	started chan struct{}
}

func newHLSPool(p Params) *hlsPool {
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * max(p.HLSViewers, 1), IdleConnTimeout: time.Minute}
	return &hlsPool{p: p, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, started: make(chan struct{})}
}

// clientFor is viewer i's HTTP client. Against a server on loopback each viewer dials from an
// address of its own in 127.0.0.0/8 (127.1.x.y), as viewers on the Internet would: the server's
// per-client caps (16 blocking requests per address) see one viewer, not the whole harness.
func (h *hlsPool) clientFor(i int) *http.Client {
	u, err := url.Parse(h.p.URL)
	if err != nil {
		return h.hc
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return h.hc
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
	d := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// start runs the clients, started at the ramp rate.
func (h *hlsPool) start(ctx context.Context) {
	if h.p.HLSViewers == 0 {
		close(h.started)
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(h.started)
		every := time.Duration(float64(time.Second) / h.p.Ramp)
		for i := range h.p.HLSViewers {
			h.wg.Add(1)
			go h.client(ctx, i)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
}

func (h *hlsPool) close() {
	h.hc.CloseIdleConnections()
	h.wg.Wait()
}

func (h *hlsPool) fail(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if n := h.errs.Add(1); n <= 5 {
		h.mu.Lock()
		h.errList = append(h.errList, err.Error())
		h.mu.Unlock()
	}
}

func (h *hlsPool) get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if h.p.ViewerToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.p.ViewerToken)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// hint is the preload hint of a media playlist: the part's URI, its MSN and index.
func hint(pl []byte) (uri string, msn, part int, ok bool) {
	s := string(pl)
	i := strings.Index(s, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`)
	if i < 0 {
		return "", 0, 0, false
	}
	rest := s[i+len(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`):]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return "", 0, 0, false
	}
	uri = rest[:end]
	base := strings.TrimSuffix(uri, ".m4s")
	if j := strings.IndexByte(base, '-'); j >= 0 {
		base = base[j+1:]
	}
	ms, ps, found := strings.Cut(base, ".")
	m, err1 := strconv.Atoi(ms)
	p, err2 := strconv.Atoi(ps)
	if !found || err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return uri, m, p, true
}

// client is one viewer's loop.
func (h *hlsPool) client(ctx context.Context, i int) {
	defer h.wg.Done()
	hc := h.clientFor(i)
	defer hc.CloseIdleConnections()
	base := strings.TrimRight(h.p.URL, "/") + "/live/" + h.p.RoomName(h.p.roomOf(i)) + "/"
	backoff := func() bool { // after an error: as hls.js, wait a moment before trying again
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
			return true
		}
	}
	var variant string
	for variant == "" {
		mv, err := h.get(ctx, hc, base+"index.m3u8")
		if err == nil {
			for _, line := range strings.Split(string(mv), "\n") {
				if strings.HasSuffix(line, "/index.m3u8") && !strings.HasPrefix(line, "#") {
					variant = strings.TrimSuffix(line, "index.m3u8")
					break
				}
			}
		}
		if variant == "" {
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				h.fail(err)
			}
			select { // not live yet
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
	vbase := base + variant
	pl, err := h.get(ctx, hc, vbase+"index.m3u8")
	if err != nil {
		h.fail(err)
		return
	}
	h.active.Add(1)
	defer h.active.Add(-1)
	for ctx.Err() == nil {
		uri, msn, part, ok := hint(pl)
		if !ok {
			h.fail(fmt.Errorf("no preload hint in %s", vbase+"index.m3u8"))
			return
		}
		t0 := time.Now()
		data, err := h.get(ctx, hc, vbase+uri)
		if err != nil {
			h.fail(err)
			if !backoff() {
				return
			}
		} else {
			h.partWait.Record(time.Since(t0))
			h.parts.Add(1)
			h.bytes.Add(int64(len(data)))
		}
		t1 := time.Now()
		next, err := h.get(ctx, hc, fmt.Sprintf("%sindex.m3u8?_HLS_msn=%d&_HLS_part=%d&_HLS_skip=YES", vbase, msn, part))
		if err != nil {
			h.fail(err)
			if !backoff() {
				return
			}
			if pl, err = h.get(ctx, hc, vbase+"index.m3u8"); err != nil {
				return
			}
			continue
		}
		h.reload.Record(time.Since(t1))
		h.playlists.Add(1)
		pl = next
	}
}

type hlsMark struct {
	parts, bytes, playlists, errs int64
	partWait, reload              histSnap
}

func (h *hlsPool) mark() hlsMark {
	return hlsMark{parts: h.parts.Load(), bytes: h.bytes.Load(), playlists: h.playlists.Load(), errs: h.errs.Load(),
		partWait: h.partWait.snapshot(), reload: h.reload.snapshot()}
}

// summary is the hold window's figures (nil without HLS viewers).
func (h *hlsPool) summary(m hlsMark, dt float64) *HLSSummary {
	if h.p.HLSViewers == 0 {
		return nil
	}
	s := &HLSSummary{Target: h.p.HLSViewers, Active: h.active.Load(), Parts: h.parts.Load() - m.parts,
		Playlists: h.playlists.Load() - m.playlists, Errors: h.errs.Load(),
		PartWait: h.partWait.snapshot().sub(m.partWait).dist(), Reload: h.reload.snapshot().sub(m.reload).dist()}
	if s.Active > 0 && dt > 0 {
		s.MbpsPerViewer = round3(float64(h.bytes.Load()-m.bytes) * 8 / dt / 1e6 / float64(s.Active))
	}
	h.mu.Lock()
	s.FirstErrors = append([]string(nil), h.errList...)
	h.mu.Unlock()
	return s
}
