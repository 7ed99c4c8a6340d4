package webhook

import "errors"

var (
	// ErrInvalid: bad Params (no Redis, a URL that is not http(s), a short secret) or a bad
	// Send (empty type or id, data that does not marshal).
	ErrInvalid = errors.New("webhook: invalid")
	// ErrClosed: Send after Close.
	ErrClosed = errors.New("webhook: closed")
	// ErrAddressNotAllowed: a delivery would have connected to a loopback, private, link-local
	// or reserved address without AllowPrivate. The connection is refused before it is made.
	ErrAddressNotAllowed = errors.New("webhook: address not allowed")
	// ErrStatus: the receiver answered with a status other than 2xx (the delivery is retried).
	ErrStatus = errors.New("webhook: receiver answered an error status")
	// ErrGone: the receiver answered 410 Gone: the delivery is given up, never retried.
	ErrGone = errors.New("webhook: receiver answered 410 Gone")
)
