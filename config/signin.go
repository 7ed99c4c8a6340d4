package config

import (
	"net"
	"net/url"
	"strings"
)

// SignIn holds the OpenID Connect sign-in settings (package signin): with all three set, viewers
// without a token from the host site can sign in with the provider and get a relaycast token
// (grants subscribe, chat, bid) for the room. It is embedded in Config, so its fields read as
// cfg.OIDCIssuer etc. docs/AUTH.md describes the flow.
type SignIn struct {
	// OIDCIssuer is the provider's issuer URL (its discovery document is at
	// <issuer>/.well-known/openid-configuration). https, except on a loopback host.
	// --oidc-issuer, default "" (sign-in off).
	OIDCIssuer string
	// OIDCClientID is the client ID registered with the provider, whose redirect URL is
	// <public-url>/auth/callback. --oidc-client-id, default "".
	OIDCClientID string
	// OIDCClientSecret is that client's secret. --oidc-client-secret, default "".
	OIDCClientSecret string
}

// DefaultSignIn returns the documented sign-in defaults: off.
func DefaultSignIn() SignIn { return SignIn{} }

// OIDCEnabled reports whether OpenID Connect sign-in is configured.
func (s SignIn) OIDCEnabled() bool { return s.OIDCIssuer != "" }

func (s *SignIn) settings() []setting {
	return []setting{
		{"oidc-issuer", "OpenID Connect issuer `URL` viewers sign in with (https; http only on loopback); empty = sign-in off", (*stringValue)(&s.OIDCIssuer)},
		{"oidc-client-id", "OpenID Connect client `id` (redirect URL <public-url>/auth/callback)", (*stringValue)(&s.OIDCClientID)},
		{"oidc-client-secret", "OpenID Connect client `secret`", (*stringValue)(&s.OIDCClientSecret)},
	}
}

func (s SignIn) validate(bad func(flagName, format string, args ...any)) {
	set := 0
	for _, v := range []string{s.OIDCIssuer, s.OIDCClientID, s.OIDCClientSecret} {
		if strings.TrimSpace(v) != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		bad("oidc-issuer", "--oidc-issuer, --oidc-client-id and --oidc-client-secret go together (all three or none)")
	}
	if s.OIDCIssuer == "" {
		return
	}
	u, err := url.Parse(s.OIDCIssuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Scheme != "https" && u.Scheme != "http") {
		bad("oidc-issuer", "%q is not an issuer URL like https://accounts.example.com", s.OIDCIssuer)
		return
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		bad("oidc-issuer", "%q must use https (plain http is accepted only on a loopback host)", s.OIDCIssuer)
	}
}

// loopbackHost reports whether host is localhost or a loopback IP (127.0.0.0/8, ::1).
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
