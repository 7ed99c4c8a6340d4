package transcode

import "errors"

var (
	// ErrBadPayload marks a task whose payload cannot be decoded (never retried).
	ErrBadPayload = errors.New("transcode: bad task payload")
	// ErrSourceMissing marks a chunk whose raw files are gone from storage (never retried).
	ErrSourceMissing = errors.New("transcode: chunk source missing")
	// ErrFFmpeg wraps a failed ffmpeg run (retried with backoff).
	ErrFFmpeg = errors.New("transcode: ffmpeg failed")
	// ErrBadMedia marks a chunk ffmpeg cannot decode (never retried: the input will not change).
	ErrBadMedia = errors.New("transcode: undecodable media")
	// ErrNotVideo marks an uploaded or imported file ffprobe cannot read as video (never retried).
	ErrNotVideo = errors.New("not a video file")
	// ErrStorage wraps a failed storage read or write (retried with backoff).
	ErrStorage = errors.New("transcode: storage")
	// ErrWorkerLost marks a task whose worker died while running it, too often (archived).
	ErrWorkerLost = errors.New("transcode: the worker running the task died")
	// ErrLease wraps a failure to set up the workers' job leases.
	ErrLease = errors.New("transcode: job lease")
)
