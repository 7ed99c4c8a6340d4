package livehls

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// headerValues are the ready header values the request path assigns (never modified).
type headerValues struct {
	m3u8, mp4, json       []string
	star, corsMethods     []string
	immutable, blocking   []string
	live, multi, noStore  []string
	retryAfter, nosniff   []string
	allowHeaders, varyOrg []string
}

func newHeaderValues() headerValues {
	return headerValues{
		m3u8: []string{"application/vnd.apple.mpegurl"}, mp4: []string{"video/mp4"},
		json: []string{"application/json"}, star: []string{"*"},
		corsMethods: []string{"GET, HEAD, OPTIONS"}, allowHeaders: []string{"Range"},
		immutable:  []string{"public, max-age=31536000, immutable"},
		blocking:   []string{"public, max-age=60"},
		live:       []string{"public, max-age=0"},
		multi:      []string{"public, max-age=1"},
		noStore:    []string{"no-store"},
		retryAfter: []string{"1"}, nosniff: []string{"nosniff"},
	}
}

// request is a parsed /live/ URL.
type request struct {
	room, variant, id, file string
}

// parsePath splits /live/{room}[/{variant}[/{id}]]/{file} strictly (no allocation): names are
// [A-Za-z0-9_-], files are index.m3u8, init{n}.mp4, p{n}.m4s or s{n}.m4s; anything else
// (dots, escapes, extra elements) is not found.
func parsePath(p string) (request, bool) {
	var rq request
	rest, ok := strings.CutPrefix(p, "/live/")
	if !ok {
		return rq, false
	}
	var el [4]string
	n := 0
	for n < 4 {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			el[n] = rest
			n++
			rest = ""
			break
		}
		el[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	if rest != "" || n < 2 {
		return rq, false
	}
	rq.room = el[0]
	if !validName(rq.room, 64) {
		return rq, false
	}
	switch n {
	case 2:
		rq.file = el[1]
		return rq, rq.file == "index.m3u8"
	case 3:
		rq.variant, rq.file = el[1], el[2]
		return rq, validName(rq.variant, 32) && rq.file == "index.m3u8"
	default:
		rq.variant, rq.id, rq.file = el[1], el[2], el[3]
		if !validName(rq.variant, 32) || !validName(rq.id, 16) {
			return rq, false
		}
		_, _, ok := mediaFile(rq.file)
		return rq, ok
	}
}

// mediaFile parses init{n}.mp4, p{n}.m4s, s{n}.m4s.
func mediaFile(f string) (kind byte, n uint64, ok bool) {
	var num string
	switch {
	case strings.HasPrefix(f, "init") && strings.HasSuffix(f, ".mp4"):
		kind, num = 'i', f[4:len(f)-4]
	case len(f) > 5 && (f[0] == 'p' || f[0] == 's') && strings.HasSuffix(f, ".m4s"):
		kind, num = f[0], f[1:len(f)-4]
	default:
		return 0, 0, false
	}
	n, ok = parseNum(num)
	return kind, n, ok
}

// parseNum parses 1-18 decimal digits.
func parseNum(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// hlsQuery is the blocking-reload and delta-update part of a playlist request.
type hlsQuery struct {
	msn, part int64 // -1 when absent
	skip      bool
}

// parseQuery reads _HLS_msn, _HLS_part and _HLS_skip without allocating; other keys are
// ignored (cache busters). A malformed value is an error message.
func parseQuery(raw string) (hlsQuery, string) {
	q := hlsQuery{msn: -1, part: -1}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "_HLS_msn", "_HLS_part":
			n, ok := parseNum(val)
			if !ok {
				return q, k + " must be a non-negative integer"
			}
			if k == "_HLS_msn" {
				q.msn = int64(n)
			} else {
				q.part = int64(n)
			}
		case "_HLS_skip":
			switch val {
			case "YES", "v2":
				q.skip = true
			case "NO", "":
			default:
				return q, "_HLS_skip must be YES or v2"
			}
		}
	}
	if q.part >= 0 && q.msn < 0 {
		return q, "_HLS_part needs _HLS_msn"
	}
	return q, ""
}

// ServeHTTP serves /live/… (mount it at "/live/").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = s.hv.star
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h["Access-Control-Allow-Methods"] = s.hv.corsMethods
		h["Access-Control-Allow-Headers"] = s.hv.allowHeaders
		h["Access-Control-Max-Age"] = s.hv.multi
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h["Allow"] = s.hv.corsMethods
		s.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	rq, ok := parsePath(r.URL.Path)
	if !ok {
		s.fail(w, http.StatusNotFound, "not found")
		return
	}
	st := s.lookup(rq.room)
	if st == nil {
		if s.cfg.Fallback != nil {
			delete(h, "Access-Control-Allow-Origin")
			s.cfg.Fallback.ServeHTTP(w, r)
			return
		}
		s.fail(w, http.StatusNotFound, "no live stream in this room")
		return
	}
	switch {
	case rq.variant == "":
		s.serveMultivariant(w, r, st)
	case rq.id == "":
		s.serveMedia(w, r, st, rq.variant)
	default:
		s.serveFile(w, r, st, rq)
	}
}

// fail answers an error as JSON, never cached.
func (s *Server) fail(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["Content-Type"] = s.hv.json
	h["Cache-Control"] = s.hv.noStore
	h["X-Content-Type-Options"] = s.hv.nosniff
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		h["Retry-After"] = s.hv.retryAfter
	}
	switch code {
	case http.StatusBadRequest:
		s.stats.bad.Add(1)
	case http.StatusTooManyRequests:
		s.stats.limited.Add(1)
	case http.StatusServiceUnavailable:
		s.stats.timeouts.Add(1)
	}
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(b, '\n'))
}

// ok writes a 200 with ready headers.
func (s *Server) ok(w http.ResponseWriter, r *http.Request, ctype, cache, length []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ctype
	h["Cache-Control"] = cache
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// waiter holds one blocking request: it sleeps on the stream's broadcast channel, has one
// slot of the caps and one timer, and gives both back in done.
type waiter struct {
	s     *Server
	key   string
	timer *time.Timer
}

// wait blocks (st.mu held on entry and on return) until the stream changes; false means
// answer now: "limited" (429), "timeout" (503) or "gone" (the client left).
func (wt *waiter) wait(r *http.Request, st *Stream, limit time.Duration) string {
	if wt.timer == nil {
		wt.key = wt.s.cfg.ClientKey(r)
		if !wt.s.acquire(wt.key) {
			return "limited"
		}
		wt.timer = time.NewTimer(limit)
	}
	ch := st.changed
	st.mu.Unlock()
	defer st.mu.Lock()
	select {
	case <-ch:
		return ""
	case <-wt.timer.C:
		return "timeout"
	case <-r.Context().Done():
		return "gone"
	}
}

func (wt *waiter) done() {
	if wt.timer != nil {
		wt.timer.Stop()
		wt.s.release(wt.key)
	}
}

// answerWait turns a wait outcome into a response; it reports whether one was sent.
func (s *Server) answerWait(w http.ResponseWriter, why string) bool {
	switch why {
	case "":
		return false
	case "limited":
		s.fail(w, http.StatusTooManyRequests, "too many blocking requests")
	case "timeout":
		s.fail(w, http.StatusServiceUnavailable, "not available in time")
	}
	return true // "gone": nobody to answer
}

// waitLimit is how long a blocking request is held: three target durations (RFC 8216bis).
func waitLimit(td int) time.Duration { return 3 * time.Duration(td) * time.Second }

func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, st *Stream) {
	wt := waiter{s: s}
	defer wt.done()
	st.mu.Lock()
	for !st.hasMediaLocked() {
		if st.ended {
			st.mu.Unlock()
			s.fail(w, http.StatusNotFound, "the stream has no media")
			return
		}
		if why := wt.wait(r, st, waitLimit(int(st.cfg.SegmentTarget/time.Second)+1)); s.answerWait(w, why) {
			st.mu.Unlock()
			return
		}
	}
	c := *st.multivariant()
	st.mu.Unlock()
	s.stats.playlists.Add(1)
	s.ok(w, r, s.hv.m3u8, s.hv.multi, c.clen, c.body)
}

func (st *Stream) hasMediaLocked() bool {
	for _, v := range st.variants {
		if v.hasMedia() {
			return true
		}
	}
	return false
}

// hasMedia: a playlist needs one complete segment.
func (v *Variant) hasMedia() bool { return len(v.segs) > 1 || (len(v.segs) == 1 && v.segs[0].complete) }

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, st *Stream, name string) {
	q, bad := parseQuery(r.URL.RawQuery)
	if bad != "" {
		s.fail(w, http.StatusBadRequest, bad)
		return
	}
	wt := waiter{s: s}
	defer wt.done()
	st.mu.Lock()
	v := st.variantLocked(name)
	if v == nil {
		st.mu.Unlock()
		s.fail(w, http.StatusNotFound, "no such variant")
		return
	}
	if q.msn >= 0 {
		if msg := v.checkAhead(q.msn, q.part); msg != "" {
			st.mu.Unlock()
			s.fail(w, http.StatusBadRequest, msg)
			return
		}
	}
	limit := waitLimit(v.targetDuration())
	for !st.ended && !(v.hasMedia() && (q.msn < 0 || v.has(q.msn, q.part))) {
		if why := wt.wait(r, st, limit); s.answerWait(w, why) {
			st.mu.Unlock()
			return
		}
	}
	if !v.hasMedia() {
		st.mu.Unlock()
		s.fail(w, http.StatusNotFound, "the stream has no media")
		return
	}
	kind := plFull
	if q.skip {
		kind = plSkip
	}
	c := *v.mediaPlaylist(kind)
	st.mu.Unlock()
	cache := s.hv.live
	if q.msn >= 0 {
		cache = s.hv.blocking
		s.stats.blockingReq.Add(1)
	} else {
		s.stats.playlists.Add(1)
	}
	s.ok(w, r, s.hv.m3u8, cache, c.clen, c.body)
}

// latest is the MSN of the newest segment (open or complete) and its last part index; before
// any media it is one before the first MSN to come.
func (v *Variant) latest() (msn int64, part int64) {
	if m, idx, _, ok := v.last(); ok {
		return int64(m), int64(idx)
	}
	return int64(v.msn) - 1, -1
}

// advancePartLimit is how many parts past the newest one a blocking request may ask for.
const advancePartLimit = 3

// checkAhead rejects requests too far in the future (RFC 8216bis 6.2.5.2: _HLS_msn beyond the
// last segment plus two, or _HLS_part beyond the last part plus the advance part limit).
func (v *Variant) checkAhead(msn, part int64) string {
	lm, lp := v.latest()
	if msn > lm+2 {
		return "_HLS_msn is more than two segments ahead of the playlist"
	}
	if part >= 0 {
		ahead := int64(0)
		switch {
		case msn == lm:
			ahead = part - lp
		case msn > lm:
			ahead = part + 1 // at least: the rest of the newest segment comes before
		}
		if ahead > advancePartLimit {
			return "_HLS_part is beyond the advance part limit"
		}
	}
	return ""
}

// has reports whether the playlist contains segment msn (complete, when part < 0) or its part.
func (v *Variant) has(msn, part int64) bool {
	m, idx, complete, ok := v.last()
	if !ok {
		return false
	}
	lm := int64(m)
	switch {
	case lm > msn:
		return true
	case lm < msn:
		return false
	case part < 0:
		return complete
	default:
		return int64(idx) >= part
	}
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, st *Stream, rq request) {
	kind, n, _ := mediaFile(rq.file)
	wt := waiter{s: s}
	defer wt.done()
	st.mu.Lock()
	v := st.variantLocked(rq.variant)
	if v == nil || rq.id != st.id {
		st.mu.Unlock()
		s.fail(w, http.StatusNotFound, "not found")
		return
	}
	switch kind {
	case 'i':
		in := v.initByN(int(n))
		if in == nil && v.buildInit != nil && v.buildInit.n == int(n) {
			in = v.buildInit
		}
		st.mu.Unlock()
		if in == nil {
			s.fail(w, http.StatusNotFound, "no such init section")
			return
		}
		s.stats.media.Add(1)
		s.ok(w, r, s.hv.mp4, s.hv.immutable, in.clen, in.data)
	case 's':
		sg := v.segByMSN(n)
		if sg == nil || !sg.complete {
			st.mu.Unlock()
			s.fail(w, http.StatusNotFound, "no such segment")
			return
		}
		parts := sg.parts
		length := sg.clen
		st.mu.Unlock()
		s.stats.media.Add(1)
		s.okParts(w, r, length, parts)
	default:
		limit := waitLimit(v.targetDuration())
		// The preload-hinted part (the next one) is held until it is complete.
		for v.partBySeq(n) == nil && n == v.nextPart && !st.ended {
			if why := wt.wait(r, st, limit); s.answerWait(w, why) {
				st.mu.Unlock()
				return
			}
		}
		p := v.partBySeq(n)
		st.mu.Unlock()
		if p == nil {
			s.fail(w, http.StatusNotFound, "no such part")
			return
		}
		s.stats.media.Add(1)
		s.ok(w, r, s.hv.mp4, s.hv.immutable, p.clen, p.data)
	}
}

func (s *Server) okParts(w http.ResponseWriter, r *http.Request, length []string, parts []*part) {
	h := w.Header()
	h["Content-Type"] = s.hv.mp4
	h["Cache-Control"] = s.hv.immutable
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	for _, p := range parts {
		if _, err := w.Write(p.data); err != nil {
			return
		}
	}
}
