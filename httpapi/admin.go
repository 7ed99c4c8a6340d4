package httpapi

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
)

// Admin (routes in Register):
//
//	POST   /api/session, DELETE /api/session   admin: set / clear the relaycast_admin cookie
//	GET    /api/admin/jobs?state=…             admin: asynq tasks (archived by default)
//	GET    /api/admin/recordings/{id}          admin: a recording with its operator log
//	POST   /api/admin/jobs/{queue}/{id}/run    admin: run an archived/retry/scheduled task now
//	       /admin/queues/…                     asynqmon, behind the cookie or a Bearer admin token

// AdminCookie is the cookie POST /api/session sets: the admin JWT itself, HttpOnly and
// SameSite=Strict, so the browser can open /admin/queues (asynqmon) without a token in the URL.
const AdminCookie = "relaycast_admin"

// QueuesPath is where asynqmon is mounted.
const QueuesPath = "/admin/queues"

// ---- session cookie ----

func (api *API) handleSession(w http.ResponseWriter, r *http.Request) {
	tok := auth.TokenFromRequest(r)
	c, err := api.signer.Authorize(tok, auth.AnyRoom, auth.GrantAdmin)
	if !authError(w, err) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: AdminCookie, Value: tok, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: c.ExpiresAt, MaxAge: int(time.Until(c.ExpiresAt).Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (api *API) handleEndSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: AdminCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// guard lets through requests with an admin Bearer token or the admin cookie; others get 401.
func (api *API) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := auth.TokenFromRequest(r)
		if tok == "" {
			if c, err := r.Cookie(AdminCookie); err == nil {
				tok = c.Value
			}
		}
		if _, err := api.signer.Authorize(tok, auth.AnyRoom, auth.GrantAdmin); err != nil {
			if strings.Contains(r.Header.Get("Accept"), "text/html") {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = fmt.Fprintf(w, "<!doctype html><title>Sign in · relaycast</title><p>%s. "+
					"Sign in with an admin token on <a href=\"/admin\">the admin page</a> first.</p>\n", html.EscapeString(err.Error()))
				return
			}
			authError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ---- jobs ----

func (api *API) handleJobs(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	jobs, err := api.a.Jobs(r.URL.Query().Get("state"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func (api *API) handleRun(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	if err := api.a.RunJob(r.Context(), r.PathValue("queue"), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- recordings ----

// handleAdminRecording is GET /api/admin/recordings/{id}: the recording with its operator log.
func (api *API) handleAdminRecording(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	if rec, ok := api.recording(w, r); ok {
		writeJSON(w, http.StatusOK, rec) // with its operator log
	}
}
