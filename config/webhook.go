package config

import (
	"net/url"
	"strings"
)

// Webhooks holds the settings of the host shop's webhooks (docs/WEBHOOKS.md). It is embedded in
// Config, so its fields read as cfg.WebhookURLs etc.
type Webhooks struct {
	// WebhookURLs receive every event (lot.won, lot.ended, room.live, room.ended,
	// recording.ready) as a signed POST. --webhook-url (repeatable or comma separated, http(s)
	// only), default none (webhooks off).
	WebhookURLs []string
	// WebhookSecret signs each body (X-Relaycast-Signature: sha256=HMAC-SHA256(secret, body));
	// at least 16 bytes, required with a URL. --webhook-secret, default "".
	WebhookSecret string
	// WebhookAllowPrivate lets deliveries reach loopback, private and link-local addresses (a
	// receiver on the same host or network). Off, every connection is checked when it is dialed,
	// so a name that resolves to an internal address later (DNS rebinding) is refused too.
	// --webhook-allow-private, default false.
	WebhookAllowPrivate bool
}

// DefaultWebhooks returns the documented webhook defaults (off).
func DefaultWebhooks() Webhooks { return Webhooks{} }

func (w *Webhooks) settings() []setting {
	return []setting{
		{"webhook-url", "`URL` that receives the signed webhook events (lot.won, lot.ended, room.live, room.ended, recording.ready), http(s), repeatable or comma separated", &listValue{p: &w.WebhookURLs}},
		{"webhook-secret", "HMAC-SHA256 signing `secret` of webhook bodies, at least 16 bytes; required with --webhook-url", (*stringValue)(&w.WebhookSecret)},
		{"webhook-allow-private", "let webhooks reach loopback, private and link-local addresses (a receiver on this host or network)", (*boolValue)(&w.WebhookAllowPrivate)},
	}
}

func (w Webhooks) validate(bad func(flagName, format string, args ...any)) {
	for _, raw := range w.WebhookURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" ||
			strings.ContainsAny(raw, " \t\r\n") {
			bad("webhook-url", "%q is not an http(s)://host[:port][/path] URL", redactURL(raw))
		}
	}
	if len(w.WebhookURLs) > 0 && len(w.WebhookSecret) < 16 {
		bad("webhook-secret", "must be at least 16 bytes with --webhook-url, got %d", len(w.WebhookSecret))
	}
}

// redactURL hides a password in raw, for error messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
