package server

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/ratelimit"
)

// limits are the node's write rate limits (docs/SECURITY.md, "Rate limits"): HTTP writes per
// client address and per user (ratelimit.HTTP around every route), and messages per WebSocket
// (signaling.Params.MessageLimit). Requests carrying another node's relay token are exempt.
type limits struct {
	http    *ratelimit.HTTP
	refused *prometheus.CounterVec
}

func (s *Server) newLimits() *limits {
	ip, user, _ := s.cfg.Rules()
	l := &limits{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relaycast_rate_limited_total",
		Help: "Requests and socket messages refused by a rate limit (429 / rate_limited), by limit.",
	}, []string{"by"})}
	for _, by := range []string{"ip", "user", "socket"} {
		l.refused.WithLabelValues(by)
	}
	l.http = &ratelimit.HTTP{
		PerIP: ratelimit.NewKeyed(ip, 0, nil), PerUser: ratelimit.NewKeyed(user, 0, nil),
		Proxies: s.cfg.Proxies(),
		User:    s.requestUser,
		Exempt:  s.fromNode,
		Refused: func(by string) { l.refused.WithLabelValues(by).Inc() },
	}
	return l
}

// requestUser is the subject of the request's valid token ("" without one): the per-user limit.
func (s *Server) requestUser(r *http.Request) string {
	tok := auth.TokenFromRequest(r)
	if tok == "" {
		return ""
	}
	c, err := s.signer.Verify(tok)
	if err != nil || c.Subject == "" {
		return ""
	}
	return c.Subject
}

// fromNode: the request carries a valid relay token (another node of the cluster).
func (s *Server) fromNode(r *http.Request) bool {
	tok := auth.TokenFromRequest(r)
	if tok == "" {
		return false
	}
	c, err := s.signer.Verify(tok)
	return err == nil && slices.Contains(c.Grants, auth.GrantRelay)
}

func (s *Server) registerLimitMetrics(reg prometheus.Registerer) {
	reg.MustRegister(s.limits.refused)
}
