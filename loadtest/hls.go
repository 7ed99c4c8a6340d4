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

// The LL-HLS viewer scenario (--hls-viewers): N clients that behave like hls.js in low-latency
// mode against /live/{room}/index.m3u8: fetch the multivariant playlist, pick a variant, then loop
// on blocking reloads (_HLS_msn/_HLS_part, with _HLS_skip=YES once the playlist allows delta
// updates) while fetching the preload-hinted part in parallel and every new part the playlist
// lists. Each viewer holds at most two requests at a time and remembers a bounded set of URIs.

// HLSSummary is what the LL-HLS viewers measured (the whole run).
type HLSSummary struct {
	Viewers  int    `json:"viewers"`
	Playing  int64  `json:"playing"` // viewers that received at least one part
	Variant  string `json:"variant"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
	// Status counts the non-200 answers by HTTP status ("transport" for failed requests).
	Status    map[string]int64 `json:"status,omitempty"`
	FirstErr  string           `json:"first_error,omitempty"`
	Parts     int64            `json:"parts"`
	Bytes     int64            `json:"bytes"`
	Playlists int64            `json:"playlists"`
	// PlaylistMs is the blocking playlist request time (it includes the server's hold until
	// the part exists: ~ one part duration at the live edge).
	PlaylistMs Dist `json:"playlist_ms"`
	// PartMs is the part request time (the preload-hinted part is held until complete).
	PartMs Dist `json:"part_ms"`
	// ArrivalMs is when a part's last byte arrived minus its media end on the wall clock
	// (EXT-X-PROGRAM-DATE-TIME + its offset in the segment + its duration): packaging, serving
	// and transfer delay, without the encoder's.
	ArrivalMs Dist `json:"arrival_ms"`
}

type hlsRun struct {
	p      Params
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	playlistLat, partLat, arrival hist
	requests, errs, parts, bytes  atomic.Int64
	playlists, playing            atomic.Int64

	rampDone chan struct{} // closed when every viewer has started

	mu       sync.Mutex
	status   map[string]int64
	firstErr string
	variant  string
}

// startHLS starts the viewers at p.Ramp per second; finish stops them.
func startHLS(ctx context.Context, p Params) *hlsRun {
	h := &hlsRun{p: p, status: map[string]int64{}, rampDone: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(ctx)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(h.rampDone)
		gap := time.Duration(float64(time.Second) / p.Ramp)
		for i := 0; i < p.HLSViewers; i++ {
			if i > 0 {
				select {
				case <-h.ctx.Done():
					return
				case <-time.After(gap):
				}
			}
			h.wg.Add(1)
			go func(i int) {
				defer h.wg.Done()
				h.viewer(i)
			}(i)
		}
	}()
	return h
}

// ramped reports whether every viewer has started (the hold waits for it).
func (h *hlsRun) ramped() bool {
	select {
	case <-h.rampDone:
		return true
	default:
		return false
	}
}

func (h *hlsRun) finish() *HLSSummary {
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	st := make(map[string]int64, len(h.status))
	for k, v := range h.status {
		st[k] = v
	}
	return &HLSSummary{
		Viewers: h.p.HLSViewers, Playing: h.playing.Load(), Variant: h.variant,
		Requests: h.requests.Load(), Errors: h.errs.Load(), Status: st, FirstErr: h.firstErr,
		Parts: h.parts.Load(), Bytes: h.bytes.Load(), Playlists: h.playlists.Load(),
		PlaylistMs: h.playlistLat.snapshot().dist(), PartMs: h.partLat.snapshot().dist(),
		ArrivalMs: h.arrival.snapshot().dist(),
	}
}

// progress is a short line for the sampling loop.
func (h *hlsRun) progress() string {
	return fmt.Sprintf(" | hls playing %d/%d parts %d errors %d", h.playing.Load(), h.p.HLSViewers, h.parts.Load(), h.errs.Load())
}

func (h *hlsRun) fail(what string, err error) {
	if h.ctx.Err() != nil {
		return // the run is over: cancelled requests are not errors
	}
	h.errs.Add(1)
	key := "transport"
	var se statusErr
	if errors.As(err, &se) {
		key = strconv.Itoa(int(se))
	}
	h.mu.Lock()
	h.status[key]++
	if h.firstErr == "" {
		h.firstErr = what + ": " + err.Error()
	}
	h.mu.Unlock()
}

type statusErr int

func (e statusErr) Error() string { return "HTTP " + strconv.Itoa(int(e)) }

// viewerClient gives each viewer its own connections; against a loopback server each viewer
// also gets its own source address (127.x.y.z), so a per-client cap sees distinct clients as
// it would in the field.
func viewerClient(base string, i int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if u, err := url.Parse(base); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() != nil && ip.IsLoopback() {
			n := i + 2
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(1+n>>16), byte(n>>8), byte(n))}
		}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true,
	}}
}

// get fetches a URL and records its time in lat.
func (h *hlsRun) get(hc *http.Client, u string, lat *hist) ([]byte, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	h.requests.Add(1)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(resp.StatusCode)
	}
	if lat != nil {
		lat.Record(time.Since(t0))
	}
	return body, nil
}

// sleep waits d or until the run ends (false).
func (h *hlsRun) sleep(d time.Duration) bool {
	select {
	case <-h.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (h *hlsRun) viewer(i int) {
	hc := viewerClient(h.p.URL, i)
	defer hc.CloseIdleConnections()
	base := h.p.URL + "/live/" + url.PathEscape(h.p.Room) + "/"
	var media string
	for media == "" {
		mv, err := h.get(hc, base+"index.m3u8", &h.playlistLat)
		if err == nil {
			if v := pickVariant(mv, h.p.HLSVariant); v != "" {
				media = base + v
				h.mu.Lock()
				h.variant = strings.TrimSuffix(v, "/index.m3u8")
				h.mu.Unlock()
				break
			}
			err = errors.New("no variant in the multivariant playlist")
		}
		h.fail("multivariant", err)
		if !h.sleep(time.Second) {
			return
		}
	}
	dir := media[:strings.LastIndexByte(media, '/')+1]
	seen := newURISet(512)
	arrived := map[string]time.Time{} // hinted parts fetched before a playlist listed them
	played, first := false, true
	initURI, hint := "", ""
	reload := media
	for h.ctx.Err() == nil {
		// The hinted part in parallel with the blocking reload that will list it (hls.js does
		// the same); the WaitGroup orders its write of arrived before the reads below.
		var hw sync.WaitGroup
		if hint != "" && !seen.has(hint) {
			u := hint
			seen.add(u)
			hw.Add(1)
			go func() {
				defer hw.Done()
				b, err := h.get(hc, dir+u, &h.partLat)
				if err != nil {
					h.fail("hinted part", err)
					return
				}
				h.gotPart(len(b), &played)
				arrived[u] = time.Now()
			}()
		}
		body, err := h.get(hc, reload, &h.playlistLat)
		hw.Wait()
		if err != nil {
			h.fail("playlist", err)
			if !h.sleep(500 * time.Millisecond) {
				return
			}
			reload, hint = media, ""
			continue
		}
		h.playlists.Add(1)
		pl := parseLL(body)
		if pl.mapURI != "" && pl.mapURI != initURI {
			if _, err := h.get(hc, dir+pl.mapURI, &h.partLat); err != nil {
				h.fail("init", err)
			} else {
				initURI = pl.mapURI
			}
		}
		parts, joining := pl.parts, first
		if first { // joining at the live edge: the newest parts only
			k := max(0, len(parts)-3)
			for _, pp := range parts[:k] {
				seen.add(pp.uri)
			}
			parts = parts[k:]
			first = false
		}
		for _, pp := range parts {
			if at, ok := arrived[pp.uri]; ok {
				h.arrival.Record(at.Sub(pp.end))
				delete(arrived, pp.uri)
			}
			if seen.has(pp.uri) {
				continue
			}
			seen.add(pp.uri)
			b, err := h.get(hc, dir+pp.uri, &h.partLat)
			if err != nil {
				h.fail("part", err)
				continue
			}
			h.gotPart(len(b), &played)
			if !joining { // the parts a viewer joins with are old by design
				h.arrival.Record(time.Since(pp.end))
			}
		}
		if len(arrived) > 8 { // hinted parts no playlist listed (the window moved on)
			clear(arrived)
		}
		if pl.endlist {
			return
		}
		msn, part := pl.next()
		reload = media + "?_HLS_msn=" + strconv.FormatInt(msn, 10) + "&_HLS_part=" + strconv.Itoa(part)
		if pl.canSkip {
			reload += "&_HLS_skip=YES"
		}
		hint = pl.hint
	}
}

func (h *hlsRun) gotPart(n int, played *bool) {
	h.parts.Add(1)
	h.bytes.Add(int64(n))
	if !*played {
		*played = true
		h.playing.Add(1)
	}
}

// pickVariant returns the URI of the named variant (name/index.m3u8), or of the highest
// bandwidth one when name is empty.
func pickVariant(mv []byte, name string) string {
	best, bestBW := "", -1
	bw := -1
	for _, l := range strings.Split(string(mv), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:"):
			bw = 0
			if v, ok := attr(l, "BANDWIDTH"); ok {
				bw, _ = strconv.Atoi(v)
			}
		case l != "" && !strings.HasPrefix(l, "#") && bw >= 0:
			if name != "" && strings.TrimSuffix(l, "/index.m3u8") == name {
				return l
			}
			if name == "" && bw > bestBW {
				best, bestBW = l, bw
			}
			bw = -1
		}
	}
	return best
}

// llPart is a part of a playlist with the wall-clock time its media ends.
type llPart struct {
	uri string
	end time.Time
}

// llPlaylist is what a viewer needs of a media playlist.
type llPlaylist struct {
	openMSN   int64 // MSN of the segment after the last complete one
	openParts int   // parts listed for it
	parts     []llPart
	hint      string
	mapURI    string
	canSkip   bool
	endlist   bool
}

// next is the blocking reload target: the part after the newest one.
func (p llPlaylist) next() (int64, int) { return p.openMSN, p.openParts }

// parseLL reads the tags a low-latency player uses (lenient: unknown lines are skipped).
func parseLL(b []byte) llPlaylist {
	var p llPlaylist
	var msn int64
	var segs, skipped int64
	var pdt time.Time
	var off time.Duration
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			msn, _ = strconv.ParseInt(l[len("#EXT-X-MEDIA-SEQUENCE:"):], 10, 64)
		case strings.HasPrefix(l, "#EXT-X-SERVER-CONTROL:"):
			_, p.canSkip = attr(l, "CAN-SKIP-UNTIL")
		case strings.HasPrefix(l, "#EXT-X-SKIP:"):
			if v, ok := attr(l, "SKIPPED-SEGMENTS"); ok {
				skipped, _ = strconv.ParseInt(v, 10, 64)
			}
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			p.mapURI, _ = attr(l, "URI")
		case strings.HasPrefix(l, "#EXT-X-PROGRAM-DATE-TIME:"):
			if t, err := time.Parse(time.RFC3339Nano, l[len("#EXT-X-PROGRAM-DATE-TIME:"):]); err == nil {
				pdt, off = t, 0
			}
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			u, _ := attr(l, "URI")
			d, _ := attr(l, "DURATION")
			sec, _ := strconv.ParseFloat(d, 64)
			off += time.Duration(sec * float64(time.Second))
			p.parts = append(p.parts, llPart{uri: u, end: pdt.Add(off)})
			p.openParts++
		case strings.HasPrefix(l, "#EXTINF:"):
			sec, _ := strconv.ParseFloat(strings.TrimSuffix(l[len("#EXTINF:"):], ","), 64)
			pdt, off = pdt.Add(time.Duration(sec*float64(time.Second))), 0
		case strings.HasPrefix(l, "#EXT-X-PRELOAD-HINT:"):
			p.hint, _ = attr(l, "URI")
		case l == "#EXT-X-ENDLIST":
			p.endlist = true
		case l != "" && !strings.HasPrefix(l, "#"):
			segs++
			p.openParts = 0
		}
	}
	if len(p.parts) > 16 {
		p.parts = p.parts[len(p.parts)-16:] // the newest are the ones a live player wants
	}
	p.openMSN = msn + skipped + segs
	return p
}

// attr returns an attribute of a tag line (quoted values unquoted).
func attr(line, name string) (string, bool) {
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return "", false
	}
	rest := line[i+1:]
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return "", false
		}
		k := rest[:eq]
		rest = rest[eq+1:]
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", false
			}
			v, rest = rest[1:1+end], rest[2+end:]
			rest = strings.TrimPrefix(rest, ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		if k == name {
			return v, true
		}
	}
	return "", false
}

// uriSet remembers the last n URIs.
type uriSet struct {
	n    int
	m    map[string]struct{}
	ring []string
	next int
}

func newURISet(n int) *uriSet {
	return &uriSet{n: n, m: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *uriSet) has(u string) bool { _, ok := s.m[u]; return ok }

func (s *uriSet) add(u string) {
	if s.has(u) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.m, old)
	}
	s.ring[s.next] = u
	s.m[u] = struct{}{}
	s.next = (s.next + 1) % s.n
}

// PrintHLS writes the LL-HLS viewers' figures (nothing without them).
func (r *Report) PrintHLS(w io.Writer) {
	h := r.HLS
	if h == nil {
		return
	}
	fmt.Fprintf(w, "LL-HLS viewers: %d/%d playing variant %q, %d requests, %d errors %v, %d parts (%.1f MB), %d playlists\n",
		h.Playing, h.Viewers, h.Variant, h.Requests, h.Errors, h.Status, h.Parts, float64(h.Bytes)/1e6, h.Playlists)
	if h.FirstErr != "" {
		fmt.Fprintf(w, "  first error: %s\n", h.FirstErr)
	}
	d := func(name string, x Dist) {
		fmt.Fprintf(w, "  %-22s p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms (n=%d)\n", name, x.P50, x.P95, x.P99, x.Max, x.Count)
	}
	d("blocking playlist", h.PlaylistMs)
	d("part request", h.PartMs)
	d("part arrival vs PDT", h.ArrivalMs)
}
