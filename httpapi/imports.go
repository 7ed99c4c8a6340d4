package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/uploads"
)

// URL import (admin): POST /api/imports {"url","title","room"} answers 202 {"recording_id"}
// once the remote sent 200 with a plausible body (uploads.Service.Import).

func (api *API) handleImport(w http.ResponseWriter, r *http.Request) {
	var body uploads.ImportRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "body must be JSON {url, title, room}")
		return
	}
	if body.Room == "" {
		body.Room = uploads.ImportRoom
	}
	if !signaling.ValidRoom(body.Room) {
		writeErr(w, http.StatusBadRequest, badRoomField)
		return
	}
	claims, ok := api.claims(w, r, body.Room, auth.GrantAdmin)
	if !ok {
		return
	}
	id, err := api.up.Import(r.Context(), body, claims.Subject)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"recording_id": id})
}
