package httpapi

import (
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/uploads"
)

// URL import: POST /api/imports {"url","title","room"} answers 202 {"recording_id"} once the
// remote sent 200 with a plausible body (uploads.Service.Import). Only the global admin (a
// token for room "*") may import: the server fetches URLs on its behalf.

func (api *API) handleImport(w http.ResponseWriter, r *http.Request) {
	claims, ok := api.claims(w, r, auth.AnyRoom, auth.GrantAdmin)
	if !ok {
		return
	}
	var body uploads.ImportRequest
	if !decodeJSON(w, r, 64<<10, &body, "body must be JSON {url, title, room}") {
		return
	}
	if body.Room == "" {
		body.Room = uploads.ImportRoom
	}
	if !signaling.ValidRoom(body.Room) {
		writeErr(w, http.StatusBadRequest, badRoomField)
		return
	}
	id, err := api.up.Import(r.Context(), body, claims.Subject)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"recording_id": id})
}
