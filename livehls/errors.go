package livehls

import "errors"

// Errors.
var (
	// ErrClosed: the stream ended (End) or was removed.
	ErrClosed = errors.New("livehls: stream closed")
	// ErrBadInput: an access unit or frame that cannot be packaged (no SPS/PPS before the
	// first IDR, timestamps going backwards beyond repair, empty).
	ErrBadInput = errors.New("livehls: bad input")
	// ErrExists: a variant of that name is already in the stream.
	ErrExists = errors.New("livehls: variant exists")
)
