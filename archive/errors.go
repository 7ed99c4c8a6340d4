package archive

import "errors"

// Errors of the archive's operations (their messages reach API clients; httpapi maps them to
// HTTP statuses).
var (
	// ErrNotFailed: retry of a recording that is not failed.
	ErrNotFailed = errors.New("recording is not failed")
	// ErrNothingToRetry: a failed recording whose raw files are gone and whose tasks left the queue.
	ErrNothingToRetry = errors.New("nothing to retry: the raw files are gone and no failed job is left")
	// ErrLive: the recording is still being recorded.
	ErrLive = errors.New("recording is live")
	// ErrNoSuchJob: no such task in the queue.
	ErrNoSuchJob = errors.New("no such job")
	// ErrJobNotRunnable: the queue refused to run the task now.
	ErrJobNotRunnable = errors.New("cannot run the job now")
	// ErrBadState: a job state that is not one of JobStates.
	ErrBadState = errors.New("state must be one of archived, retry, active, pending, scheduled")
	// ErrQueue: the queue (Redis) failed.
	ErrQueue = errors.New("queue")
	// ErrStorage: the VOD storage failed.
	ErrStorage = errors.New("storage")
)

// errNoChange aborts a catalog update that would change nothing.
var errNoChange = errors.New("no change")
