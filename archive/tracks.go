package archive

import (
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/transcode"
)

// What a worker's update says of a recording's media, applied to its catalog entry: the tracks
// it holds, the human note or reason (Error), the operator log and whether a retry can help.
// The log stays out of everything public (publish, GET /api/recordings…): only
// GET /api/admin/recordings/{id} shows it.

// catalogTracks converts the worker's track list.
func catalogTracks(ts []transcode.TrackState) []catalog.Track {
	out := make([]catalog.Track, 0, len(ts))
	for _, t := range ts {
		out = append(out, catalog.Track{Kind: t.Kind, Codec: t.Codec, Dropped: t.Dropped, Reason: t.Reason})
	}
	return out
}

// applyMedia copies the media fields of a ready or failed update onto r.
func applyMedia(r *catalog.Recording, u transcode.Update) {
	r.Error, r.Log, r.Retryable = u.Error, u.Log, u.Retryable
	if u.Tracks != nil {
		r.Tracks = catalogTracks(u.Tracks)
	}
}

// setFailedUpdate marks a recording failed as a worker reported it.
func (a *Archive) setFailedUpdate(u transcode.Update) (catalog.Recording, error) {
	return a.cat.Update(a.ctx, u.RecordingID, func(r *catalog.Recording) error {
		r.Status = catalog.StatusFailed
		applyMedia(r, u)
		if r.Error == "" {
			r.Error = transcode.MsgFailed
		}
		return nil
	})
}

// publicData strips the operator log from a recording about to be published.
func publicData(data any) any {
	switch v := data.(type) {
	case catalog.Recording:
		return v.Public()
	case *catalog.Recording:
		return v.Public()
	}
	return data
}

// saveProgress stores a recording's overall progress (0..99 while processing) in the catalog, so
// that GET /api/recordings/{id} says what the SSE progress events say, whichever worker (this
// process, or a `relaycast worker` reporting over Redis) does the work. It only ever grows.
func (a *Archive) saveProgress(id string, overall float64) {
	if overall <= 0 {
		return
	}
	_, _ = a.cat.Update(a.ctx, id, func(r *catalog.Recording) error {
		if r.Status != catalog.StatusProcessing || overall <= r.Progress {
			return errNoChange
		}
		r.Progress = overall
		return nil
	})
}

// Human reasons of the failures the server itself sees (the workers' are transcode.Describe's).
const (
	MsgStoreFailed = "The recording could not be uploaded to storage; it is tried again later."
	MsgDiskFailed  = "Recording stopped: the server could not write it to its disk."
)

// setFailedLog marks a recording failed with a human reason, keeping err's text as the log.
func (a *Archive) setFailedLog(id, msg string, err error) {
	a.setFailedUpdate(transcode.Update{RecordingID: id, Kind: transcode.UpdateFailed, Error: msg,
		Log: transcode.CleanLog(err.Error()), Retryable: true})
}
