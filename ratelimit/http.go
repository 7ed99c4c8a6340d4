package ratelimit

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Proxies are the load balancers whose X-Forwarded-For is believed (--trusted-proxies). The
// zero value trusts none: the client is the TCP peer.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads CIDRs or addresses ("10.0.0.0/8", "127.0.0.1").
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if pf, err := netip.ParsePrefix(s); err == nil {
			p.prefixes = append(p.prefixes, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return Proxies{}, &net.ParseError{Type: "CIDR or IP address", Text: s}
		}
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return p, nil
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, pf := range p.prefixes {
		if pf.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client of r: the TCP peer, or — when the peer is a trusted
// proxy — the rightmost address of X-Forwarded-For that is not a trusted proxy (the one the
// first trusted proxy saw; the ones left of it are the client's word).
func (p Proxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(p.prefixes) == 0 || !p.trusts(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		if !p.trusts(a) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

// HTTP limits the requests that write (every method but GET, HEAD and OPTIONS): one bucket per
// client address and, when the request names a user, one per user. Refused requests get 429 with
// Retry-After (whole seconds, at least 1) and {"error": ..., "retry_after": seconds}.
type HTTP struct {
	// PerIP and PerUser are the buckets (nil: that limit is off).
	PerIP, PerUser *Keyed
	// Proxies finds the client's address.
	Proxies Proxies
	// User names the request's user ("" for none): the wiring verifies its token.
	User func(*http.Request) string
	// Exempt requests are not limited (another node's calls with a relay token).
	Exempt func(*http.Request) bool
	// Refused, when set, counts a refusal ("ip" or "user").
	Refused func(by string)
}

// Wrap returns next behind the limits.
func (h *HTTP) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if h.Exempt != nil && h.Exempt(r) {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := h.PerIP.Allow(h.Proxies.ClientIP(r)); !ok {
			h.refuse(w, "ip", wait)
			return
		}
		if h.PerUser != nil && !h.PerUser.Rule().Off() && h.User != nil {
			if u := h.User(r); u != "" {
				if ok, wait := h.PerUser.Allow(u); !ok {
					h.refuse(w, "user", wait)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *HTTP) refuse(w http.ResponseWriter, by string, wait time.Duration) {
	if h.Refused != nil {
		h.Refused(by)
	}
	Refuse(w, wait, "too many requests from this "+map[string]string{"ip": "address", "user": "user"}[by]+": slow down")
}

// Refuse answers 429 with Retry-After (wait rounded up to whole seconds, at least 1) and a
// JSON error.
func Refuse(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := RetryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "retry_after": secs})
}

// RetryAfterSeconds is wait in whole seconds, rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
