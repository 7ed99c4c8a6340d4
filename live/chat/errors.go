package chat

import "errors"

// Sentinel errors. Each refusal of Send maps to one socket error code (Code gives it); a refusal
// changes nothing in the room (no event, nothing stored).
var (
	// ErrTooLong: the text is longer than Params.MaxBytes (default 2048) bytes. Code too_long.
	ErrTooLong = errors.New("chat: message too long")
	// ErrEmpty: the text is empty or only white space. Code bad_request.
	ErrEmpty = errors.New("chat: empty message")
	// ErrBadText: invalid UTF-8, a control character or a bidi override. Code bad_request.
	ErrBadText = errors.New("chat: bad text")
	// ErrBadName: a display name that is empty, longer than 32 characters or has bad characters. Code bad_request.
	ErrBadName = errors.New("chat: bad name")
	// ErrInvalid: any other bad argument (room, subject, settings, product, reaction kind, duration). Code bad_request.
	ErrInvalid = errors.New("chat: invalid")
	// ErrRateLimited: more than Rate messages in Per (or reactions above their limit). Code rate_limited.
	ErrRateLimited = errors.New("chat: rate limited")
	// ErrSlowMode: the room's slow mode allows one message per slow_mode_s. Code slow_mode.
	ErrSlowMode = errors.New("chat: slow mode")
	// ErrLinks: the room has links off and the text contains a URL. Code links_off.
	ErrLinks = errors.New("chat: links are off")
	// ErrTimedOut: the sender is timed out (by a moderator, or automatically for flooding). Code timed_out.
	ErrTimedOut = errors.New("chat: timed out")
	// ErrBanned: the sender is banned from the room's chat. Code banned.
	ErrBanned = errors.New("chat: banned")
	// ErrGuestsOff: a guest sent a message while the room has guest_chat off. Code guests_off.
	ErrGuestsOff = errors.New("chat: guest chat is off")
	// ErrNotFound: Delete of a message that is not in the history. Code not_found.
	ErrNotFound = errors.New("chat: not found")
	// ErrClosed: the Service is closed. Code internal.
	ErrClosed = errors.New("chat: closed")
)

// Code is the socket/HTTP error code of err (K4/K5): too_long, bad_request, rate_limited, slow_mode,
// links_off, timed_out, banned, guests_off, not_found; "internal" for anything else (Redis failure).
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooLong):
		return "too_long"
	case errors.Is(err, ErrEmpty), errors.Is(err, ErrBadText), errors.Is(err, ErrBadName), errors.Is(err, ErrInvalid):
		return "bad_request"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrSlowMode):
		return "slow_mode"
	case errors.Is(err, ErrLinks):
		return "links_off"
	case errors.Is(err, ErrTimedOut):
		return "timed_out"
	case errors.Is(err, ErrBanned):
		return "banned"
	case errors.Is(err, ErrGuestsOff):
		return "guests_off"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	}
	return "internal"
}
