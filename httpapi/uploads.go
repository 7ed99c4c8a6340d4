package httpapi

import (
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/uploads"
)

// Direct uploads (routes in Register; the flow is described in package uploads):
//
//	POST /api/uploads                      {"room","title","filename","size","content_type"}
//	GET  /api/uploads/{id}                 resume: the same answer, received parts with "etag"
//	PUT  /api/uploads/{id}/parts/{n}?…     local storage only: the part's bytes
//	POST /api/uploads/{id}/complete        {"parts":[{"number","etag"}]}

const badRoomField = "room: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit"

func (api *API) handleCreateUpload(w http.ResponseWriter, r *http.Request) {
	if !api.authenticate(w, r) {
		return
	}
	var body uploads.Request
	if !decodeJSON(w, r, 64<<10, &body, "body must be JSON {room, title, filename, size, content_type}") {
		return
	}
	if !signaling.ValidRoom(body.Room) {
		writeErr(w, http.StatusBadRequest, badRoomField)
		return
	}
	claims, ok := api.claims(w, r, body.Room, auth.GrantPublish)
	if !ok {
		return
	}
	res, err := api.up.Create(r.Context(), body, claims.Subject)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// pendingUpload loads the upload named in the path for its room's publisher (or an admin),
// writing the error answer (401 first, then 404, 403, 410 expired) when there is none to go on
// with.
func (api *API) pendingUpload(w http.ResponseWriter, r *http.Request) (catalog.Upload, bool) {
	if !api.authenticate(w, r) {
		return catalog.Upload{}, false
	}
	u, err := api.up.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return u, false
	}
	if !api.authorize(w, r, u.Room, auth.GrantPublish) {
		return u, false
	}
	if err := api.up.CheckPending(u); err != nil {
		writeError(w, err)
		return u, false
	}
	return u, true
}

// handleGetUpload resumes an upload: the same answer as POST /api/uploads (URLs signed again),
// where the parts that arrived carry their "etag" and need not be sent again.
func (api *API) handleGetUpload(w http.ResponseWriter, r *http.Request) {
	u, ok := api.pendingUpload(w, r)
	if !ok {
		return
	}
	res, err := api.up.Resume(r.Context(), u)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handlePart stores one part sent to a signed local URL: 403 bad signature, 410 expired, 413
// bigger than declared (uploads.Service.PutPart).
func (api *API) handlePart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	body := http.MaxBytesReader(w, r.Body, api.cfg.UploadPartSize+1)
	etag, err := api.up.PutPart(r.Context(), r.PathValue("id"), r.PathValue("n"), q.Get("expires"), q.Get("sig"), body, r.ContentLength)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
}

func (api *API) handleComplete(w http.ResponseWriter, r *http.Request) {
	u, ok := api.pendingUpload(w, r)
	if !ok {
		return
	}
	var body struct {
		Parts []uploads.Part `json:"parts"`
	}
	if !decodeJSON(w, r, 4<<20, &body, `body must be JSON {"parts":[{"number":1,"etag":"…"}]}`) {
		return
	}
	id, err := api.up.Complete(r.Context(), u, body.Parts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"recording_id": id})
}
