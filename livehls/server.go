package livehls

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ServerConfig.
const (
	DefaultMaxBlockingPerClient = 16
	DefaultMaxBlocking          = 50000
	DefaultLinger               = 30 * time.Second
)

// Caching for a CDN in front (docs/LLHLS.md, "Caching"): media is immutable (its URIs carry the
// stream's id), a blocking playlist answer is cacheable for a while (its URL names the state it
// waited for), the plain playlist and errors are not.
const (
	cacheMedia    = "public, max-age=86400, immutable"
	cacheBlocking = "public, max-age=60"
	cachePlaylist = "no-cache"
	cacheMaster   = "public, max-age=2"
	cacheNone     = "no-store"
)

// Server holds the live streams of a node's rooms and serves them under /live/:
//
//	GET /live/{room}/index.m3u8                multivariant playlist (the contract URL)
//	GET /live/{room}/{variant}/index.m3u8      media playlist (blocking: _HLS_msn, _HLS_part; delta: _HLS_skip)
//	GET /live/{room}/{variant}/{id}-init{n}.mp4    init section
//	GET /live/{room}/{variant}/{id}-{msn}.m4s      segment
//	GET /live/{room}/{variant}/{id}-{msn}.{i}.m4s  part (the preload-hinted one blocks until it is complete)
type Server struct {
	cfg ServerConfig

	mu      sync.Mutex
	streams map[string]*entry
	clients map[string]int // blocking requests held, per client
	closed  bool

	blocking atomic.Int64
	stats    serverStats
}

type entry struct {
	st    *Stream
	timer *time.Timer // the linger of an ended stream
}

type serverStats struct {
	playlists, blockingReqs, media, refused429, notFound atomic.Int64
}

// NewServer makes an empty server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxBlockingPerClient <= 0 {
		cfg.MaxBlockingPerClient = DefaultMaxBlockingPerClient
	}
	if cfg.MaxBlocking <= 0 {
		cfg.MaxBlocking = DefaultMaxBlocking
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientKey == nil {
		cfg.ClientKey = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	return &Server{cfg: cfg, streams: map[string]*entry{}, clients: map[string]int{}}
}

// Open returns the room's stream: the one still lingering after its publisher left (the caller
// then calls Discontinuity and goes on writing), or a new one made with cfg.
func (s *Server) Open(room string, cfg Config) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.streams[room]; e != nil {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		e.st.reopen()
		return e.st
	}
	if cfg.Now == nil {
		cfg.Now = s.cfg.Now
	}
	st := NewStream(cfg)
	if !s.closed {
		s.streams[room] = &entry{st: st}
	}
	return st
}

// Stream returns the room's stream if there is one (live or lingering).
func (s *Server) Stream(room string) (*Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.streams[room]; e != nil {
		return e.st, true
	}
	return nil, false
}

// Ended tells the server that st, the room's stream, ended (st.End is called): it stays
// servable for Linger, then is removed unless Open took it up again.
func (s *Server) Ended(room string, st *Stream) {
	st.End()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.streams[room]
	if e == nil || e.st != st {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(s.cfg.Linger, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.streams[room]; cur == e && e.st.isEnded() {
			delete(s.streams, room)
		}
	})
}

// Remove ends st, the room's stream, and removes it at once (no linger): the room's live HLS
// was stopped while the room goes on (on demand, no viewer for a while); a later Open makes a
// new stream (a new id, later media sequence numbers), never this one again.
func (s *Server) Remove(room string, st *Stream) {
	st.End()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.streams[room]; e != nil && e.st == st {
		if e.timer != nil {
			e.timer.Stop()
		}
		delete(s.streams, room)
	}
}

func (st *Stream) isEnded() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.st.ended
}

// Close ends every stream and answers every blocked request.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	es := s.streams
	s.streams = map[string]*entry{}
	s.mu.Unlock()
	for _, e := range es {
		if e.timer != nil {
			e.timer.Stop()
		}
		e.st.End()
	}
	return nil
}

// Blocking is the number of blocking requests held now.
func (s *Server) Blocking() int64 { return s.blocking.Load() }

func jsonError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheNone)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":` + strconv.Quote(msg) + "}\n"))
}

// ServeHTTP serves /live/… (mount it at "/live/").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		jsonError(w, http.StatusMethodNotAllowed, "live HLS is read with GET")
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	rest, ok := strings.CutPrefix(r.URL.Path, "/live/")
	room, rest, _ := strings.Cut(rest, "/")
	if !ok || !validName(room) || rest == "" {
		jsonError(w, http.StatusNotFound, "no such live HLS path")
		return
	}
	s.mu.Lock()
	e := s.streams[room]
	s.mu.Unlock()
	if e == nil {
		if s.cfg.Fallback != nil {
			s.cfg.Fallback.ServeHTTP(w, r)
			return
		}
		s.stats.notFound.Add(1)
		jsonError(w, http.StatusNotFound, "room "+strconv.Quote(room)+" has no live HLS here")
		return
	}
	st := e.st
	if rest == "index.m3u8" {
		switch s.waitSegment(w, r, st) { // a stream that just started (cold.go)
		case waitRefused:
			return
		case waitTimeout, waitBad:
			coldUnavailable(w)
			return
		}
		st.mu.Lock()
		body := st.renderMultivariant()
		st.mu.Unlock()
		if len(body) <= len("#EXTM3U\n#EXT-X-VERSION:9\n") {
			jsonError(w, http.StatusNotFound, "the room's live HLS has no media yet")
			return
		}
		s.stats.playlists.Add(1)
		writeBody(w, r, "application/vnd.apple.mpegurl", cacheMaster, body)
		return
	}
	name, file, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(file, "/") {
		jsonError(w, http.StatusNotFound, "no such live HLS path")
		return
	}
	v, media := st.variantNamed(name)
	if v == nil && !media {
		// A stream that just started has no rendition yet: wait for its first segment (cold.go).
		switch s.waitSegment(w, r, st) {
		case waitRefused:
			return
		case waitTimeout, waitBad:
			coldUnavailable(w)
			return
		}
		v, _ = st.variantNamed(name)
	}
	if v == nil {
		jsonError(w, http.StatusNotFound, "no such variant")
		return
	}
	if file == "index.m3u8" {
		s.servePlaylist(w, r, v)
		return
	}
	s.serveMedia(w, r, v, file)
}

func writeBody(w http.ResponseWriter, r *http.Request, ctype, cache string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// query reads the LL-HLS directives from the raw query without allocating: msn/part are -1
// when absent; bad is a malformed value.
func query(raw string) (msn int64, part int64, skip bool, bad bool) {
	msn, part = -1, -1
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "_HLS_msn":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return 0, 0, false, true
			}
			msn = n
		case "_HLS_part":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 || n > 1<<20 {
				return 0, 0, false, true
			}
			part = n
		case "_HLS_skip":
			switch val {
			case "YES", "v2":
				skip = true
			default:
				return 0, 0, false, true
			}
		}
	}
	if part >= 0 && msn < 0 {
		return 0, 0, false, true // _HLS_part needs _HLS_msn
	}
	return msn, part, skip, false
}

// servePlaylist answers a media playlist request, blocking when it asks for a part or segment
// that is not there yet.
func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, v *Variant) {
	msn, part, skip, bad := query(r.URL.RawQuery)
	if bad {
		jsonError(w, http.StatusBadRequest, "_HLS_msn and _HLS_part are non-negative integers (_HLS_part needs _HLS_msn), _HLS_skip is YES or v2")
		return
	}
	cache := cachePlaylist
	if msn < 0 {
		// Before the first segment a playlist would have none, which players refuse: hold the
		// request (like a blocking one) until there is one.
		st := v.s
		st.mu.Lock()
		empty := len(v.segs) == 0 && !st.st.ended
		first := v.nextMSN
		if v.open != nil {
			first = v.open.msn
		}
		st.mu.Unlock()
		if empty {
			switch s.wait(w, r, v, first, -1) {
			case waitRefused:
				return
			case waitTimeout, waitBad:
				coldUnavailable(w)
				return
			}
		}
	}
	if msn >= 0 {
		cache = cacheBlocking
		switch s.wait(w, r, v, uint64(msn), int(part)) {
		case waitOK:
		case waitBad:
			jsonError(w, http.StatusBadRequest, "_HLS_msn/_HLS_part are too far ahead of the live edge")
			return
		case waitTimeout:
			jsonError(w, http.StatusServiceUnavailable, "the requested part did not come in time")
			return
		case waitRefused:
			return
		}
	}
	st := v.s
	st.mu.Lock()
	body := v.full
	if skip {
		body = v.skip
	}
	st.mu.Unlock()
	s.stats.playlists.Add(1)
	writeBody(w, r, "application/vnd.apple.mpegurl", cache, body)
}

type waitResult int

const (
	waitOK waitResult = iota
	waitBad
	waitTimeout
	waitRefused
)

// wait holds the request until the variant has segment msn (part < 0) or its part, within three
// target durations; capped per client and in all.
func (s *Server) wait(w http.ResponseWriter, r *http.Request, v *Variant, msn uint64, part int) waitResult {
	return s.waitUntil(w, r, v.s, func() (bool, bool) { return v.has(msn, part) })
}

// waitUntil holds r until check (called under the stream's lock) says ready (waitOK) or bad
// (waitBad), within three target durations (waitTimeout); waitRefused: the client holds too many
// blocking requests (answered 429).
func (s *Server) waitUntil(w http.ResponseWriter, r *http.Request, st *Stream, check func() (ready, bad bool)) waitResult {
	state := func() (waitResult, <-chan struct{}) {
		st.mu.Lock()
		defer st.mu.Unlock()
		switch ready, bad := check(); {
		case bad:
			return waitBad, nil
		case ready:
			return waitOK, nil
		}
		return waitTimeout, st.st.changed
	}
	res, ch := state()
	if ch == nil {
		return res
	}
	key := s.cfg.ClientKey(r)
	if !s.hold(w, key) {
		return waitRefused
	}
	defer s.unhold(key)
	timeout := time.NewTimer(time.Duration(3*st.cfg.targetDuration()) * time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-ch:
		case <-timeout.C:
			return waitTimeout
		case <-r.Context().Done():
			return waitTimeout
		}
		if res, ch = state(); ch == nil {
			return res
		}
	}
}

// hold counts one more blocking request of the client key, or answers 429 (false) when the
// client or the server holds too many.
func (s *Server) hold(w http.ResponseWriter, key string) bool {
	s.mu.Lock()
	if s.clients[key] >= s.cfg.MaxBlockingPerClient || s.blocking.Load() >= int64(s.cfg.MaxBlocking) {
		s.mu.Unlock()
		s.stats.refused429.Add(1)
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusTooManyRequests, "too many blocking requests held by this client")
		return false
	}
	s.clients[key]++
	s.mu.Unlock()
	s.blocking.Add(1)
	s.stats.blockingReqs.Add(1)
	return true
}

func (s *Server) unhold(key string) {
	s.blocking.Add(-1)
	s.mu.Lock()
	if s.clients[key]--; s.clients[key] <= 0 {
		delete(s.clients, key)
	}
	s.mu.Unlock()
}

// serveMedia answers an init section, a segment or a part.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, v *Variant, file string) {
	st := v.s
	rest, ok := strings.CutPrefix(file, st.id+"-")
	if !ok {
		jsonError(w, http.StatusNotFound, "no such media (another stream's, or gone)")
		return
	}
	if n, ok := strings.CutPrefix(rest, "init"); ok {
		seq, err := strconv.Atoi(strings.TrimSuffix(n, ".mp4"))
		st.mu.Lock()
		var data []byte
		if err == nil && strings.HasSuffix(n, ".mp4") {
			if v.init != nil && v.init.seq == seq {
				data = v.init.data
			}
			for _, sg := range v.segs {
				if sg.init.seq == seq {
					data = sg.init.data
				}
			}
		}
		st.mu.Unlock()
		if data == nil {
			jsonError(w, http.StatusNotFound, "no such init section")
			return
		}
		s.stats.media.Add(1)
		writeBody(w, r, "video/mp4", cacheMedia, data)
		return
	}
	base, ok := strings.CutSuffix(rest, ".m4s")
	if !ok {
		jsonError(w, http.StatusNotFound, "no such media")
		return
	}
	ms, ps, isPart := strings.Cut(base, ".")
	msn, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		jsonError(w, http.StatusNotFound, "no such media")
		return
	}
	if !isPart {
		st.mu.Lock()
		sg := v.findSegment(msn, false)
		var parts []*part
		size := 0
		if sg != nil {
			parts, size = sg.parts, sg.size
		}
		st.mu.Unlock()
		if sg == nil {
			jsonError(w, http.StatusNotFound, "no such segment (not complete, or out of the window)")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "video/iso.segment")
		h.Set("Cache-Control", cacheMedia)
		h.Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			for _, p := range parts {
				_, _ = w.Write(p.data)
			}
		}
		s.stats.media.Add(1)
		return
	}
	idx, err := strconv.Atoi(ps)
	if err != nil || idx < 0 {
		jsonError(w, http.StatusNotFound, "no such part")
		return
	}
	st.mu.Lock()
	p := v.findPart(msn, idx)
	ready, bad := v.has(msn, idx)
	st.mu.Unlock()
	if p == nil && !ready && !bad {
		// The preload-hinted part (or one just ahead): wait for it like a blocking reload.
		switch s.wait(w, r, v, msn, idx) {
		case waitRefused:
			return
		case waitTimeout, waitBad:
		}
		st.mu.Lock()
		p = v.findPart(msn, idx)
		st.mu.Unlock()
	}
	if p == nil {
		jsonError(w, http.StatusNotFound, "no such part")
		return
	}
	s.stats.media.Add(1)
	writeBody(w, r, "video/mp4", cacheMedia, p.data)
}
