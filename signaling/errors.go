package signaling

import "errors"

var (
	// ErrProtocol marks a message that breaks the protocol; the socket is closed with the reason.
	ErrProtocol = errors.New("protocol violation")
	// ErrFamily: a message family cannot be registered (an empty or already registered type).
	ErrFamily = errors.New("bad message family")
)

// codeRedirect is the /ws error code of a Redirect.
const codeRedirect = "redirect"

// codeRateLimited is the /ws error code of a message over the socket's limit (the live room's
// chat and bid limits use the same code).
const codeRateLimited = "rate_limited"

// Redirect is the error an SFU returns when another node serves the room: WHIP and WHEP answer
// 307 Temporary Redirect with Location: URL (RFC 9725 §4.2), /ws sends an error message with
// code "redirect" and the url (PROTOCOL.md).
type Redirect struct {
	// URL is the absolute URL to repeat the request at (the owner node's /whip/{room} or
	// /whep/{room}).
	URL string
}

func (r *Redirect) Error() string { return "the room is served by another node: " + r.URL }
