package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/relaycast/relaycast/revocation"
)

// Revocations is what the API needs of the revoked token subjects (a *revocation.Store).
type Revocations interface {
	Revoke(ctx context.Context, subject string) (revocation.Entry, error)
	Lift(ctx context.Context, subject string) (bool, error)
	List(ctx context.Context) ([]revocation.Entry, error)
}

// The admin's revocations (docs/SECURITY.md, "Revoking tokens"), with an admin token:
//
//	POST   /api/admin/revocations {"subject": "u-1"}  201 {"subject", "revoked_at"}: every token
//	       of the subject issued until now is refused on every node within a second
//	GET    /api/admin/revocations                     200 {"revocations": [...]}
//	DELETE /api/admin/revocations/{subject}           204; 404 when it was not revoked
func (api *API) registerRevocations(mux *http.ServeMux) {
	if api.revoked == nil {
		return
	}
	mux.HandleFunc("POST /api/admin/revocations", api.handleRevoke)
	mux.HandleFunc("GET /api/admin/revocations", api.handleRevocations)
	mux.HandleFunc("DELETE /api/admin/revocations/{subject}", api.handleLift)
}

func (api *API) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	var req struct {
		Subject string `json:"subject"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, `body must be JSON {"subject": "..."}`)
		return
	}
	e, err := api.revoked.Revoke(r.Context(), req.Subject)
	switch {
	case errors.Is(err, revocation.ErrBadSubject):
		writeErr(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeErr(w, http.StatusServiceUnavailable, err.Error())
	default:
		api.log.Info("tokens revoked", "subject", e.Subject)
		writeJSON(w, http.StatusCreated, e)
	}
}

func (api *API) handleRevocations(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	list, err := api.revoked.List(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revocations": list})
}

func (api *API) handleLift(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	ok, err := api.revoked.Lift(r.Context(), r.PathValue("subject"))
	switch {
	case err != nil:
		writeErr(w, http.StatusServiceUnavailable, err.Error())
	case !ok:
		writeErr(w, http.StatusNotFound, "that subject's tokens are not revoked")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
