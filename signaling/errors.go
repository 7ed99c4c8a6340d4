package signaling

import "errors"

var (
	// ErrProtocol marks a message that breaks the protocol; the socket is closed with the reason.
	ErrProtocol = errors.New("protocol violation")
	// ErrFamily: a message family cannot be registered (an empty or already registered type).
	ErrFamily = errors.New("bad message family")
)
