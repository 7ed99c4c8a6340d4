package events

import "errors"

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("events: closed")
