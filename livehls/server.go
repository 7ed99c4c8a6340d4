package livehls

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Server holds the live streams of a node's rooms and serves them under /live/:
//
//	GET /live/{room}/index.m3u8                   multivariant playlist (the contract URL)
//	GET /live/{room}/{variant}/index.m3u8         media playlist (_HLS_msn, _HLS_part, _HLS_skip)
//	GET /live/{room}/{variant}/{id}/init{n}.mp4   init section
//	GET /live/{room}/{variant}/{id}/p{seq}.m4s    part (seq counts the variant's parts)
//	GET /live/{room}/{variant}/{id}/s{msn}.m4s    segment (its parts back to back)
//
// {id} is the stream instance (Stream.ID), so media URIs never repeat across streams of a room.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	hv  headerValues

	mu      sync.Mutex
	streams map[string]*Stream
	linger  map[string]*time.Timer
	closed  bool

	bmu       sync.Mutex
	blocking  int
	perClient map[string]int

	stats serverStats
}

// serverStats are the counters a metrics collector reads (Stats).
type serverStats struct {
	held        atomic.Int64
	playlists   atomic.Int64
	blockingReq atomic.Int64
	media       atomic.Int64
	limited     atomic.Int64
	timeouts    atomic.Int64
	bad         atomic.Int64
}

// Stats is a snapshot of the server's request counters (added by the packager; the
// integrator exports them as metrics).
type Stats struct {
	// BlockingHeld is the number of blocking requests waiting right now.
	BlockingHeld int64
	// Playlists, BlockingPlaylists and Media count requests answered by kind.
	Playlists, BlockingPlaylists, Media int64
	// Limited counts 429 answers (blocking caps), Timeouts 503s, BadRequests 400s.
	Limited, Timeouts, BadRequests int64
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{
		BlockingHeld: s.stats.held.Load(), Playlists: s.stats.playlists.Load(),
		BlockingPlaylists: s.stats.blockingReq.Load(), Media: s.stats.media.Load(),
		Limited: s.stats.limited.Load(), Timeouts: s.stats.timeouts.Load(), BadRequests: s.stats.bad.Load(),
	}
}

// NewServer makes an empty server.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg: cfg, log: cfg.Logger.With("component", "livehls"), hv: newHeaderValues(),
		streams: map[string]*Stream{}, linger: map[string]*time.Timer{}, perClient: map[string]int{},
	}
}

// Open returns the room's stream: the one still lingering after its publisher left (the caller
// then calls Discontinuity and goes on writing), or a new one made with cfg.
func (s *Server) Open(room string, cfg Config) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.linger[room]; t != nil {
		t.Stop()
		delete(s.linger, room)
	}
	if st := s.streams[room]; st != nil {
		st.reopen()
		if !st.isClosed() {
			return st
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	st := NewStream(cfg)
	if !s.closed {
		s.streams[room] = st
	}
	return st
}

// Stream returns the room's stream if there is one (live or lingering).
func (s *Server) Stream(room string) (*Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[room]
	return st, ok
}

// Ended tells the server that st, the room's stream, ended (st.End is called): it stays
// servable for Linger, then is removed unless Open took it up again.
func (s *Server) Ended(room string, st *Stream) {
	st.End()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[room] != st {
		return
	}
	if t := s.linger[room]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(s.cfg.Linger, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.linger[room] != t {
			return // Open or another Ended came first
		}
		delete(s.linger, room)
		if s.streams[room] == st && st.isEnded() {
			delete(s.streams, room)
			st.close()
		}
	})
	s.linger[room] = t
}

// Close ends every stream and answers every blocked request.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	streams := s.streams
	s.streams = map[string]*Stream{}
	for room, t := range s.linger {
		t.Stop()
		delete(s.linger, room)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.close()
	}
	return nil
}

func (s *Server) lookup(room string) *Stream {
	s.mu.Lock()
	st := s.streams[room]
	s.mu.Unlock()
	return st
}

// acquire takes a blocking slot for the client; false: a cap is reached (429).
func (s *Server) acquire(key string) bool {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if s.blocking >= s.cfg.MaxBlocking || s.perClient[key] >= s.cfg.MaxBlockingPerClient {
		return false
	}
	s.blocking++
	s.perClient[key]++
	s.stats.held.Add(1)
	return true
}

func (s *Server) release(key string) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.blocking--
	if n := s.perClient[key] - 1; n > 0 {
		s.perClient[key] = n
	} else {
		delete(s.perClient, key)
	}
	s.stats.held.Add(-1)
}

func (st *Stream) isEnded() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ended
}

func (st *Stream) isClosed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closed
}
