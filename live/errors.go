package live

import (
	"context"
	"errors"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/live/stream"
)

var (
	// ErrProtocol marks a message that is not the JSON its type needs; the wiring turns it into
	// signaling's protocol violation (the socket is closed).
	ErrProtocol = errors.New("protocol violation")
	// ErrBadRequest: a missing or invalid field.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: a token that is not valid for the room, or an action without its grant.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotJoined: a live message before join.
	ErrNotJoined = errors.New("not joined: send join first")
	// ErrBadSeq: join's after is greater than the room's current seq.
	ErrBadSeq = errors.New("after is greater than the room's last event seq: join with after 0")
	// ErrNotFound: no such thing (e.g. no pinned product to unpin is not an error; an unknown lot is).
	ErrNotFound = errors.New("not found")
	// ErrRateLimited: too many bids (limit.go).
	ErrRateLimited = errors.New("rate limited")
	// ErrClosed: the service is closed.
	ErrClosed = errors.New("live: closed")
)

// Error codes (PROTOCOL.md, "Error codes of the live room").
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeNotJoined    = "not_joined"
	CodeBadSeq       = "bad_seq"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeTooLong      = "too_long"
	CodeRateLimited  = "rate_limited"
	CodeSlowMode     = "slow_mode"
	CodeLinksOff     = "links_off"
	CodeTimedOut     = "timed_out"
	CodeBanned       = "banned"
	CodeGuestsOff    = "guests_off"
	CodeBusy         = "busy"
	CodeInternal     = "internal"
)

// Code is the one mapping of the live room's errors (its own, auth's, the auction's and chat's)
// to the error codes of the socket and of the REST API's {"code"}; ok is false for an error of
// no known kind (then code is "internal").
func Code(err error) (code string, ok bool) {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
	if c := chat.Code(err); c != CodeInternal { // chat's refusals have the same codes
		return c, true
	}
	switch {
	case is(ErrBadRequest, ErrProtocol, auction.ErrInvalid):
		return CodeBadRequest, true
	case is(ErrUnauthorized, auth.ErrNoToken, auth.ErrInvalidToken, auth.ErrExpired, auth.ErrForbidden):
		return CodeUnauthorized, true
	case is(ErrNotJoined):
		return CodeNotJoined, true
	case is(ErrBadSeq):
		return CodeBadSeq, true
	case is(ErrNotFound, auction.ErrNotFound):
		return CodeNotFound, true
	case is(auction.ErrConflict):
		return CodeConflict, true
	case is(ErrRateLimited):
		return CodeRateLimited, true
	case is(ErrClosed, stream.ErrClosed, chat.ErrClosed, auction.ErrClosed, context.DeadlineExceeded, context.Canceled):
		return CodeBusy, true
	}
	return CodeInternal, false
}
