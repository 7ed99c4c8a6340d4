package server

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/hlsfeed"
	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

// The live LL-HLS output (docs/LLHLS.md): one livehls.Server per node under /live/, fed by an
// hlsfeed sink on every live room (teed with the recorder's), requests for a room another node
// owns proxied to that node.

// liveHLSProxyHeader marks a /live/ request one node proxies to another: its value is a key
// every node of the cluster derives from the shared auth secret, so the owner trusts the
// client address the proxy adds (X-Forwarded-For) for its per-client caps, and a proxied
// request for a room the owner does not have is answered, never proxied again (no loop).
const liveHLSProxyHeader = "X-Relaycast-Live-Proxy"

// liveHLS is the node's live HLS: the packager, the feed, the proxy to owners.
type liveHLS struct {
	srv      *livehls.Server
	feed     *hlsfeed.Feed
	proxyKey string
	proxy    *httputil.ReverseProxy

	// owners caches the rooms' owner URLs for a second: a room's viewers on a non-owner node
	// make one lease lookup per second, not one per playlist request. Bounded (reset when full).
	ownersMu sync.Mutex
	owners   map[string]ownerEntry
}

type ownerEntry struct {
	url     *url.URL // nil: no other node owns the room
	expires time.Time
}

const (
	ownerCacheTTL  = time.Second
	ownerCacheSize = 4096
)

// openLiveHLS builds the live HLS output unless --live-hls=false.
func (s *Server) openLiveHLS() error {
	if !s.cfg.LiveHLSEnabled {
		return nil
	}
	rungs, err := s.cfg.LiveHLSRungs()
	if err != nil {
		return err
	}
	h := &liveHLS{proxyKey: hex.EncodeToString(s.signer.DeriveKey("live-hls-proxy"))[:32]}
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			owner, _ := pr.In.Context().Value(liveOwnerKey{}).(*url.URL)
			pr.SetURL(owner)
			pr.SetXForwarded()
			pr.Out.Header.Set(liveHLSProxyHeader, h.proxyKey)
		},
		FlushInterval: -1, // a part streamed while it is made (preload hint) goes on at once
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Warn("live HLS proxy to the room's owner failed", "err", err)
			liveHLSError(w, http.StatusBadGateway, "the room's node does not answer")
		},
	}
	h.srv = livehls.NewServer(livehls.ServerConfig{Linger: s.cfg.LiveHLSLinger, ClientKey: h.clientKey,
		Fallback: http.HandlerFunc(s.liveHLSFallback)})
	h.feed = hlsfeed.New(hlsfeed.Params{Packager: hlsfeed.LiveHLS(h.srv), Logger: s.p.Logger, FFmpeg: s.cfg.FFmpeg,
		Ladder: rungs, Linger: s.cfg.LiveHLSLinger, OnDemand: s.cfg.LiveHLSOnDemandMode(), Idle: s.cfg.LiveHLSIdle,
		Stream: livehls.Config{PartTarget: s.cfg.LiveHLSPart, SegmentTarget: s.cfg.LiveHLSSegment, Window: s.cfg.LiveHLSWindow}})
	s.hls = h
	return nil
}

// clientKey names a viewer for the packager's caps: the remote host, or for a request another
// node of the cluster proxied, the client address that node added.
func (h *liveHLS) clientKey(r *http.Request) string {
	if k := r.Header.Get(liveHLSProxyHeader); k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(h.proxyKey)) == 1 {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			return strings.TrimSpace(hops[len(hops)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type liveOwnerKey struct{}

// liveHLSFallback serves a /live/{room}/… request for a room this node has no stream of: it is
// proxied to the node that owns the room, unless it was proxied here already.
func (s *Server) liveHLSFallback(w http.ResponseWriter, r *http.Request) {
	room := liveRoomOf(r.URL.Path)
	c := s.Cluster()
	if room == "" || c == nil || r.Header.Get(liveHLSProxyHeader) != "" {
		liveHLSError(w, http.StatusNotFound, "no live HLS for this room")
		return
	}
	h := s.hls
	now := time.Now()
	h.ownersMu.Lock()
	e, cached := h.owners[room]
	h.ownersMu.Unlock()
	if !cached || now.After(e.expires) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		owner, ok, err := c.Owner(ctx, room)
		cancel()
		if err != nil {
			liveHLSError(w, http.StatusServiceUnavailable, "cannot find the room's node")
			return
		}
		e = ownerEntry{expires: now.Add(ownerCacheTTL)}
		if ok && owner.Node != c.Self().ID && owner.URL != "" {
			e.url, _ = url.Parse(owner.URL)
		}
		h.ownersMu.Lock()
		if h.owners == nil || len(h.owners) >= ownerCacheSize {
			h.owners = make(map[string]ownerEntry)
		}
		h.owners[room] = e
		h.ownersMu.Unlock()
	}
	if e.url == nil {
		liveHLSError(w, http.StatusNotFound, "no live HLS for this room")
		return
	}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), liveOwnerKey{}, e.url)))
}

// liveRoomOf is {room} of /live/{room}/….
func liveRoomOf(p string) string {
	rest, ok := strings.CutPrefix(p, "/live/")
	if !ok {
		return ""
	}
	room, _, _ := strings.Cut(rest, "/")
	if room == "" || room == "." || room == ".." {
		return ""
	}
	return room
}

// liveHLSHandler is /live/… with viewer auth when --viewer-auth is on: a token with the
// subscribe grant on the room (Authorization: Bearer, or ?token=) or 401/403 JSON.
func (s *Server) liveHLSHandler() http.Handler {
	next := s.liveHLSDemand(s.hls.srv) // livehls_demand.go
	if !s.cfg.ViewerAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := liveRoomOf(r.URL.Path)
		if room == "" {
			liveHLSError(w, http.StatusNotFound, "no such room")
			return
		}
		if _, err := s.signer.Authorize(auth.TokenFromRequest(r), room, auth.GrantSubscribe); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, auth.ErrForbidden) {
				status = http.StatusForbidden
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="relaycast"`)
			liveHLSError(w, status, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func liveHLSError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// mountLiveHLS mounts /live/ and the feed's metrics.
func (s *Server) mountLiveHLS(mux *http.ServeMux, reg *prometheus.Registry) {
	if s.hls == nil {
		return
	}
	mux.Handle("/live/", s.liveHLSHandler())
	reg.MustRegister(s.hls.feed.Collector())
}

// hlsOnLive wraps the SFU's OnLive hook: each live room also feeds its live HLS, beside what
// next gives (the recorder), through one tee sink. next's sink is used as it was.
func (s *Server) hlsOnLive(next func(sfu.LiveRoom) sfu.Sink) func(sfu.LiveRoom) sfu.Sink {
	if s.hls == nil {
		return next
	}
	return func(room sfu.LiveRoom) sfu.Sink {
		var a sfu.Sink
		if next != nil {
			a = next(room)
		}
		b := s.hls.feed.OnLive(room)
		switch {
		case a == nil:
			return b
		case b == nil:
			return a
		}
		return teeSink{a, b}
	}
}

// closeLiveHLS ends every room's live HLS (its ffmpeg killed) and answers blocked requests.
func (s *Server) closeLiveHLS() {
	if s.hls == nil {
		return
	}
	_ = s.hls.feed.Close()
	_ = s.hls.srv.Close()
}

// LiveHLS is the node's live HLS packager and feed (nil with --live-hls=false; tests).
func (s *Server) LiveHLS() (*livehls.Server, *hlsfeed.Feed) {
	if s.hls == nil {
		return nil, nil
	}
	return s.hls.srv, s.hls.feed
}

// teeSink gives every packet to two sinks (the recorder and the live HLS); an AgedSink of
// them is told the age of replayed packets, the other gets them as live.
type teeSink struct{ a, b sfu.Sink }

func (t teeSink) WriteRTP(info sfu.TrackInfo, pkt *rtp.Packet) error {
	return errors.Join(t.a.WriteRTP(info, pkt), t.b.WriteRTP(info, pkt))
}

func (t teeSink) WriteAgedRTP(info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	return errors.Join(writeAged(t.a, info, pkt, age), writeAged(t.b, info, pkt, age))
}

func writeAged(s sfu.Sink, info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	if a, ok := s.(sfu.AgedSink); ok {
		return a.WriteAgedRTP(info, pkt, age)
	}
	return s.WriteRTP(info, pkt)
}

func (t teeSink) Close() error { return errors.Join(t.a.Close(), t.b.Close()) }
