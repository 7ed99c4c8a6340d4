package catalog

import "errors"

// ErrNotFound is returned for an unknown recording id.
var ErrNotFound = errors.New("catalog: recording not found")
