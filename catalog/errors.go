package catalog

import "errors"

// ErrNotFound is returned for an unknown recording id.
var ErrNotFound = errors.New("catalog: recording not found")

// ErrBadURL is returned by OpenPostgres for a URL that is not a postgres:// connection URL.
var ErrBadURL = errors.New("catalog: bad database URL")
