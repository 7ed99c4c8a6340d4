package server

import "errors"

// Errors of uploads and URL imports (their messages reach API clients).
var (
	// ErrAddressNotAllowed: a URL import tried to reach a loopback, private, link-local or
	// otherwise internal address (checked on every connection, redirects included).
	ErrAddressNotAllowed = errors.New("address not allowed")
	// ErrTooBig: a file is larger than the configured limit.
	ErrTooBig = errors.New("file too large")
)
