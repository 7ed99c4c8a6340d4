package loadtest

import "errors"

var (
	// ErrBadParams: the parameters are not usable (see Params.Validate).
	ErrBadParams = errors.New("bad parameters")
	// ErrPublisher: the publisher could not go live.
	ErrPublisher = errors.New("publisher failed")
	// ErrBrowser: a Chromium could not be started or driven.
	ErrBrowser = errors.New("browser failed")
	// ErrThresholds: the run finished but at least one pass/fail threshold failed.
	ErrThresholds = errors.New("thresholds failed")
)
