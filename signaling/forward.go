package signaling

import (
	"fmt"
	"net/http"
	"net/url"
)

// sessionLocation is the Location of a new WHIP/WHEP session: /whip/{room}/{id}, with
// ?node={id} when Params.SessionNode names this node, so that a PATCH or DELETE that a load
// balancer sends to another node can be handed to this one (Params.ForwardSession).
func (s *Server) sessionLocation(kind, room, id string) string {
	loc := fmt.Sprintf("/%s/%s/%s", kind, room, id)
	if s.p.SessionNode != nil {
		if node := s.p.SessionNode(); node != "" {
			loc += "?node=" + url.QueryEscape(node)
		}
	}
	return loc
}

// forwardSession hands a PATCH or DELETE of a session this node does not hold to the node its
// URL names (?node=); it reports whether it answered.
func (s *Server) forwardSession(w http.ResponseWriter, r *http.Request) bool {
	node := r.URL.Query().Get("node")
	if node == "" || s.p.ForwardSession == nil || (s.p.SessionNode != nil && node == s.p.SessionNode()) {
		return false
	}
	if r.Method != http.MethodDelete && r.Method != http.MethodPatch {
		return false
	}
	return s.p.ForwardSession(w, r, node)
}
