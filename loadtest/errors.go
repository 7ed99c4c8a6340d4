package loadtest

import "errors"

var (
	// ErrBadParams: the parameters are not usable (see Params.Validate).
	ErrBadParams = errors.New("bad parameters")
	// ErrPublisher: the publisher could not go live.
	ErrPublisher = errors.New("publisher failed")
	// ErrBrowser: a Chromium could not be started or driven.
	ErrBrowser = errors.New("browser failed")
	// ErrNoFFmpeg: the synthetic publisher encodes its media loop with ffmpeg, which is missing.
	ErrNoFFmpeg = errors.New("the synthetic publisher encodes its 2 s VP8 + Opus loop with ffmpeg, which was not found: install ffmpeg (or set --ffmpeg), or publish with --publisher file or --publisher browser")
	// ErrEncode: ffmpeg could not encode the synthetic publisher's loop.
	ErrEncode = errors.New("encoding the synthetic publisher's media loop failed")
	// ErrThresholds: the run finished but at least one pass/fail threshold failed.
	ErrThresholds = errors.New("thresholds failed")
)
