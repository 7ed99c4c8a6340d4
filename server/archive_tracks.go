package server

import (
	"errors"
	"net/http"

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
func (a *archive) setFailedUpdate(u transcode.Update) {
	r, err := a.cat.Update(a.ctx, u.RecordingID, func(r *catalog.Recording) error {
		r.Status = catalog.StatusFailed
		applyMedia(r, u)
		if r.Error == "" {
			r.Error = transcode.MsgFailed
		}
		return nil
	})
	if err == nil {
		a.publish("recording", u.RecordingID, r)
	}
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

// publicPage strips the operator log from a page of recordings.
func publicPage(p catalog.Page) catalog.Page {
	for i := range p.Recordings {
		p.Recordings[i] = p.Recordings[i].Public()
	}
	return p
}

// handleAdminRecording is GET /api/admin/recordings/{id}: the recording with its operator log.
func (ad *adminAPI) handleAdminRecording(w http.ResponseWriter, r *http.Request) {
	if !ad.isAdmin(w, r) {
		return
	}
	rec, err := ad.a.cat.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// saveProgress stores a recording's overall progress (0..99 while processing) in the catalog, so
// that GET /api/recordings/{id} says what the SSE progress events say, whichever worker (this
// process, or a `relaycast worker` reporting over Redis) does the work. It only ever grows.
func (a *archive) saveProgress(id string, overall float64) {
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
	msgStoreFailed = "The recording could not be uploaded to storage; it is tried again later."
	msgDiskFailed  = "Recording stopped: the server could not write it to its disk."
)

// setFailedLog marks a recording failed with a human reason, keeping err's text as the log.
func (a *archive) setFailedLog(id, msg string, err error) {
	a.setFailedUpdate(transcode.Update{RecordingID: id, Kind: transcode.UpdateFailed, Error: msg,
		Log: transcode.CleanLog(err.Error()), Retryable: true})
}
