package auction

import "errors"

var (
	// ErrNotFound: no such lot in the room.
	ErrNotFound = errors.New("auction: lot not found")
	// ErrConflict: the lot is in the wrong state for the call (cancel after its first bid, start
	// while another lot of the room is open, end a lot that is not open, …).
	ErrConflict = errors.New("auction: conflict")
	// ErrInvalid: bad input; the wrapped message names the field.
	ErrInvalid = errors.New("auction: invalid")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("auction: closed")
)
