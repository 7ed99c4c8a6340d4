package httpapi

import (
	"errors"
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/uploads"
)

// Subtitles: PUT /api/recordings/{id}/subtitles/{lang}?label=English with a WebVTT body stores
// them and lists them in the recording's "subtitles"; DELETE removes them. The publisher of the
// recording's room or an admin may do both.

// subtitleTarget checks the token (401 before an unknown id's 404), reads the recording of the
// request and checks the token's room.
func (api *API) subtitleTarget(w http.ResponseWriter, r *http.Request) (catalog.Recording, bool) {
	if !api.authenticate(w, r) {
		return catalog.Recording{}, false
	}
	rec, err := api.a.Catalog().Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return rec, false
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return rec, false
	}
	if !api.authorize(w, r, rec.Room, auth.GrantPublish) {
		return rec, false
	}
	return rec, true
}

func (api *API) handlePutSubtitles(w http.ResponseWriter, r *http.Request) {
	rec, ok := api.subtitleTarget(w, r)
	if !ok {
		return
	}
	if !requireContentType(w, r, "text/vtt", "text/plain") {
		return
	}
	body := http.MaxBytesReader(w, r.Body, uploads.MaxSubtitleBytes)
	rec, err := api.up.PutSubtitles(r.Context(), rec, r.PathValue("lang"), r.URL.Query().Get("label"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

func (api *API) handleDeleteSubtitles(w http.ResponseWriter, r *http.Request) {
	rec, ok := api.subtitleTarget(w, r)
	if !ok {
		return
	}
	if err := api.up.DeleteSubtitles(r.Context(), rec, r.PathValue("lang")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
