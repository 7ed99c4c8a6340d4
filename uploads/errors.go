package uploads

import (
	"errors"
	"fmt"
)

// Errors of uploads, imports and subtitles. Those the API answers with come as an *Error of
// one of these kinds, whose message reaches the client as is; httpapi maps the kind to an
// HTTP status (errors.Is).
var (
	// ErrAddressNotAllowed: a URL import tried to reach a loopback, private, link-local or
	// otherwise internal address (checked on every connection, redirects included).
	ErrAddressNotAllowed = errors.New("address not allowed")
	// ErrTooBig: a file is larger than the configured limit.
	ErrTooBig = errors.New("file too large")
	// ErrInvalid: the request is wrong (a bad field, parts that do not match).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: no such upload, or no such subtitles.
	ErrNotFound = errors.New("not found")
	// ErrGone: the upload or its part URL expired.
	ErrGone = errors.New("expired")
	// ErrBusy: the upload is being completed.
	ErrBusy = errors.New("upload is being completed")
	// ErrBadSignature: a local part URL whose signature does not match.
	ErrBadSignature = errors.New("bad upload URL signature")
	// ErrStorage: the storage failed.
	ErrStorage = errors.New("storage")
	// ErrUpstream: the URL of an import could not be fetched.
	ErrUpstream = errors.New("fetching URL")
	// ErrUnavailable: the server is shutting down, or the queue refused the transcode.
	ErrUnavailable = errors.New("unavailable")
)

// Error is an error of kind Kind (one of the sentinels above) with the message for the client.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

// fail is an *Error of kind with a formatted message.
func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
