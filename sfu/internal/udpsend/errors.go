package udpsend

import "errors"

var (
	// ErrTooLarge: a packet does not fit a datagram slot (SlotSize) once sealed.
	ErrTooLarge  = errors.New("packet too large for a datagram")
	errSRTPIndex = errors.New("SRTP packet index exhausted (2^48 packets with one key)")
	errBadKeys   = errors.New("bad SRTP master key or salt")
)
