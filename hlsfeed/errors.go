package hlsfeed

import "errors"

// Errors.
var (
	// ErrClosed: the feed or the room's sink is closed.
	ErrClosed = errors.New("hlsfeed: closed")
	// ErrTranscoder: ffmpeg could not be started or died (the sink restarts it, bounded).
	ErrTranscoder = errors.New("hlsfeed: transcoder")
	// ErrGaveUp: the transcoder died more often than Params.MaxRestarts; the room's live HLS
	// goes on with what needs no transcoder (the copied H.264), if any.
	ErrGaveUp = errors.New("hlsfeed: transcoder restarts exhausted")
)
