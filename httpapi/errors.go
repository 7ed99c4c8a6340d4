package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/uploads"
)

// The one way the API answers: JSON bodies, {"error": "…"} for errors, with the status of the
// error's kind (statusOf) and the single auth-error mapping (authError).

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// writeError answers err with the status of its kind and its message; the live room's errors
// also carry their code ({"error", "code"}: the same codes as on the socket, live.Code).
func writeError(w http.ResponseWriter, err error) {
	if isAuthError(err) {
		authError(w, err)
		return
	}
	if st, code, ok := liveError(err); ok {
		writeJSON(w, st, map[string]string{"error": err.Error(), "code": code})
		return
	}
	writeErr(w, statusOf(err), err.Error())
}

// statusOf maps the domain packages' error kinds to HTTP statuses (500 for the rest).
func statusOf(err error) int {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
	switch {
	case is(uploads.ErrInvalid, uploads.ErrAddressNotAllowed, archive.ErrBadState):
		return http.StatusBadRequest
	case is(uploads.ErrBadSignature):
		return http.StatusForbidden
	case is(uploads.ErrNotFound, archive.ErrNoSuchJob, catalog.ErrNotFound):
		return http.StatusNotFound
	case is(uploads.ErrBusy, archive.ErrNotFailed, archive.ErrNothingToRetry, archive.ErrLive, archive.ErrJobNotRunnable):
		return http.StatusConflict
	case is(uploads.ErrGone):
		return http.StatusGone
	case is(uploads.ErrTooBig):
		return http.StatusRequestEntityTooLarge
	case is(uploads.ErrStorage, uploads.ErrUpstream, archive.ErrStorage, archive.ErrQueue):
		return http.StatusBadGateway
	case is(uploads.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func isAuthError(err error) bool {
	return errors.Is(err, auth.ErrNoToken) || errors.Is(err, auth.ErrInvalidToken) ||
		errors.Is(err, auth.ErrExpired) || errors.Is(err, auth.ErrForbidden)
}

// authError answers a failed token check (nil: nothing to answer, true): 403 when the token is
// valid but does not grant the action, else 401 with a WWW-Authenticate challenge.
func authError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, auth.ErrForbidden):
		writeErr(w, http.StatusForbidden, err.Error())
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="relaycast"`)
		writeErr(w, http.StatusUnauthorized, err.Error())
	}
	return false
}

// authorize checks the request's token (Bearer header or ?token=) for grant g on room,
// writing the error response.
func (api *API) authorize(w http.ResponseWriter, r *http.Request, room string, g auth.Grant) bool {
	_, ok := api.claims(w, r, room, g)
	return ok
}

// claims is authorize that also returns the token's claims.
func (api *API) claims(w http.ResponseWriter, r *http.Request, room string, g auth.Grant) (auth.Claims, bool) {
	c, err := api.signer.Authorize(auth.TokenFromRequest(r), room, g)
	return c, authError(w, err)
}

// isAdmin: a token for every room with the admin grant.
func (api *API) isAdmin(w http.ResponseWriter, r *http.Request) bool {
	return api.authorize(w, r, auth.AnyRoom, auth.GrantAdmin)
}

// authenticate checks that the request carries a valid token (signature, expiry; any room and
// grant) before anything else about it is read or revealed, writing 401. The check for the
// request's room and grant follows once the room is known (authorize).
func (api *API) authenticate(w http.ResponseWriter, r *http.Request) bool {
	_, err := api.signer.Verify(auth.TokenFromRequest(r))
	return authError(w, err)
}

// requireContentType answers 415 unless the request's media type is one of types. A request
// without Content-Type is taken as the expected type (what it sends is checked anyway).
func requireContentType(w http.ResponseWriter, r *http.Request, types ...string) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && slices.Contains(types, mt) {
		return true
	}
	writeErr(w, http.StatusUnsupportedMediaType, "Content-Type must be "+strings.Join(types, " or "))
	return false
}

// decodeJSON reads the request's JSON body into v: 415 for another Content-Type, 413 when it
// is bigger than limit bytes, 400 msg when it is not JSON. It writes the answer and returns
// false on any of them.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, msg string) bool {
	if !requireContentType(w, r, "application/json") {
		return false
	}
	tooBig := func() bool {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body may be at most %d KiB", limit>>10))
		return false
	}
	if r.ContentLength > limit {
		return tooBig()
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooBig()
	case err != nil:
		writeErr(w, http.StatusBadRequest, msg)
		return false
	}
	return true
}
