package server

import "net/http"

// Live HLS on demand (--live-hls-start on-demand, the default; docs/LLHLS.md, "On demand"):
// every GET or HEAD of /live/{room}/… that passed viewer auth holds the room's feed while it is
// answered (hlsfeed.Feed.Demand): a dormant room's feed starts on this node when the room is
// live here; a room another node owns is proxied there (liveHLSFallback), where the proxied
// request does the same. The feed stops --live-hls-idle after the last request.

// liveHLSDemand wraps the packager's handler with the room's demand.
func (s *Server) liveHLSDemand(next http.Handler) http.Handler {
	if !s.cfg.LiveHLSOnDemandMode() {
		return next
	}
	feed := s.hls.feed
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		h := feed.Demand(liveRoomOf(r.URL.Path))
		defer h.Release()
		next.ServeHTTP(w, r)
	})
}
