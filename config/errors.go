package config

import "errors"

// ErrInvalid is wrapped by every error from Validate, ApplyEnv and Load that
// is caused by a bad setting (as opposed to, say, flag.ErrHelp).
var ErrInvalid = errors.New("config: invalid")
