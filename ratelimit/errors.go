package ratelimit

import "errors"

// ErrBadRule: a rule that ParseRule cannot read.
var ErrBadRule = errors.New("ratelimit: bad rule")
