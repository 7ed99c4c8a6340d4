package config

import (
	"github.com/relaycast/relaycast/ratelimit"
)

// Limits holds the write rate limits (docs/SECURITY.md, "Rate limits") and the signing secrets
// being rotated out ("Rotating the signing secret"). It is embedded in
// Config, so its fields read as cfg.RateLimitIP etc. A rule is "RATE,BURST" (RATE per second),
// "RATE", or "off".
type Limits struct {
	// RateLimitIP limits the HTTP requests that write (POST, PUT, PATCH, DELETE) per client
	// address: --rate-limit-ip, default "20,100".
	RateLimitIP string
	// RateLimitUser limits them per signed-in user (a token's subject) on top: --rate-limit-user,
	// default "10,50".
	RateLimitUser string
	// RateLimitSocket limits the messages one WebSocket sends (chat and bids have their own,
	// stricter limits as well): --rate-limit-socket, default "30,60".
	RateLimitSocket string
	// TrustedProxies are the load balancers (CIDRs or addresses) whose X-Forwarded-For names the
	// client, for the per-address limits and caps: --trusted-proxies, default none (the client is
	// the TCP peer).
	TrustedProxies []string
	// AuthPreviousSecrets still verify tokens (each at least 16 bytes) while the signing secret
	// is rotated: new tokens are signed with --auth-secret only. --auth-previous-secrets, default
	// none.
	AuthPreviousSecrets []string
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{RateLimitIP: "20,100", RateLimitUser: "10,50", RateLimitSocket: "30,60"}
}

func (l *Limits) settings() []setting {
	return []setting{
		{"rate-limit-ip", "HTTP writes (POST/PUT/PATCH/DELETE) per client address: `RATE,BURST` per second, or off; refused with 429 and Retry-After", (*stringValue)(&l.RateLimitIP)},
		{"rate-limit-user", "HTTP writes per signed-in user (token subject): `RATE,BURST` per second, or off", (*stringValue)(&l.RateLimitUser)},
		{"rate-limit-socket", "messages per WebSocket: `RATE,BURST` per second, or off (chat and bids have their own limits too)", (*stringValue)(&l.RateLimitSocket)},
		{"trusted-proxies", "load balancers (`CIDR`s or addresses, comma separated) whose X-Forwarded-For names the client, for per-address limits", &listValue{p: &l.TrustedProxies}},
		{"auth-previous-secrets", "former signing `secret`s (comma separated, each ≥ 16 bytes) whose tokens are still accepted while --auth-secret is rotated", &listValue{p: &l.AuthPreviousSecrets}},
	}
}

func (l Limits) validate(bad func(flagName, format string, args ...any)) {
	for name, v := range map[string]string{"rate-limit-ip": l.RateLimitIP, "rate-limit-user": l.RateLimitUser, "rate-limit-socket": l.RateLimitSocket} {
		if _, err := ratelimit.ParseRule(v); err != nil {
			bad(name, "%v", err)
		}
	}
	if _, err := ratelimit.ParseProxies(l.TrustedProxies); err != nil {
		bad("trusted-proxies", "%v", err)
	}
	for i, p := range l.AuthPreviousSecrets {
		if len(p) < 16 {
			bad("auth-previous-secrets", "secret %d must be at least 16 bytes, got %d", i+1, len(p))
		}
	}
}

// Rules parses the three rules (valid after Validate).
func (l Limits) Rules() (ip, user, socket ratelimit.Rule) {
	ip, _ = ratelimit.ParseRule(l.RateLimitIP)
	user, _ = ratelimit.ParseRule(l.RateLimitUser)
	socket, _ = ratelimit.ParseRule(l.RateLimitSocket)
	return ip, user, socket
}

// Proxies parses TrustedProxies (valid after Validate).
func (l Limits) Proxies() ratelimit.Proxies {
	p, _ := ratelimit.ParseProxies(l.TrustedProxies)
	return p
}
