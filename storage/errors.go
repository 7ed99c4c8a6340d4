package storage

import "errors"

// ErrNotFound is returned by Get for a key that does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrInvalidKey is returned for keys that are empty, absolute or contain "..".
var ErrInvalidKey = errors.New("storage: invalid key")
