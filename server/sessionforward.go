package server

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// forwardedHeader marks a WHIP/WHEP session request one node handed to another: the receiving
// node never hands it on again (no loops between nodes that disagree about the cluster).
const forwardedHeader = "X-Relaycast-Forwarded"

// sessionNode is this node's id in the cluster, which every WHIP/WHEP session's Location carries
// (signaling.Params.SessionNode): behind a load balancer its PATCH and DELETE may reach another
// node, which forwards them here ("" before the node joined the cluster).
func (s *Server) sessionNode() string {
	if c := s.Cluster(); c != nil {
		return c.Self().ID
	}
	return ""
}

// forwardSession serves a PATCH or DELETE of a WHIP/WHEP session held by another node of the
// cluster (signaling.Params.ForwardSession): it proxies the request to that node's URL as is
// (method, path, query, headers, body) and relays the answer. False (answered 404 as an unknown
// session) when the node is not a live member, or the request was forwarded already.
func (s *Server) forwardSession(w http.ResponseWriter, r *http.Request, node string) bool {
	c := s.Cluster()
	if c == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	n, ok, err := c.Node(ctx, node)
	cancel()
	if err != nil || !ok || n.URL == "" || n.ID == c.Self().ID {
		return false
	}
	target, err := url.Parse(n.URL)
	if err != nil || target.Host == "" {
		return false
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target) // target's scheme and host; the path and query stay (a base path is prefixed)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(forwardedHeader, c.Self().ID)
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Warn("cannot forward a session request to its node", "node", node, "err", err)
			http.Error(w, "the node holding this session does not answer", http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
	return true
}
