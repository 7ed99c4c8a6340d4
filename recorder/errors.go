package recorder

import "errors"

var (
	// ErrDisk wraps a failed write of a recording (disk full, unwritable directory).
	ErrDisk = errors.New("recorder: disk")
	// ErrClosed is returned by a sink's WriteRTP after Close.
	ErrClosed = errors.New("recorder: closed")
	// ErrBadManifest is returned by Scan for a recording directory it cannot read.
	ErrBadManifest = errors.New("recorder: bad manifest")
)
