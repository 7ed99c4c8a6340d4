package stream

import "errors"

var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("stream: closed")
	// ErrGap is returned by After when the events after the given seq are no longer all kept
	// (the log keeps the last Keep events): the caller sends a snapshot instead.
	ErrGap = errors.New("stream: events no longer kept")
	// ErrBadRoom is returned for an empty room name.
	ErrBadRoom = errors.New("stream: empty room")
)
