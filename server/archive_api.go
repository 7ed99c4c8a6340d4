package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/events"
)

// register mounts the archive API:
//
//	GET    /api/recordings            newest first; ?limit=20&cursor=…&room=…&status=…&q=title text
//	GET    /api/recordings/{id}
//	PATCH  /api/recordings/{id}       {"title": …, "description": …}; publisher of the room or admin
//	DELETE /api/recordings/{id}       admin; removes the files too
//	GET    /api/events                Server-Sent Events; ?id=… or ?room=… to filter
//	GET    /vod/…                     the local VOD directory (without S3)
func (a *archive) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/recordings", a.handleList)
	mux.HandleFunc("GET /api/recordings/{id}", a.handleGet)
	mux.HandleFunc("PATCH /api/recordings/{id}", a.handlePatch)
	mux.HandleFunc("DELETE /api/recordings/{id}", a.handleDelete)
	mux.Handle("GET /api/events", a.events.Handler(15*time.Second, func(r *http.Request, e events.Event) bool {
		q := r.URL.Query()
		if id := q.Get("id"); id != "" && e.ID != id {
			return false
		}
		if room := q.Get("room"); room != "" {
			var body struct {
				Room string `json:"room"`
			}
			_ = json.Unmarshal(e.Data, &body)
			return body.Room == room
		}
		return true
	}))
	if a.local != nil {
		mux.Handle("GET /vod/", http.StripPrefix("/vod", a.local.Handler()))
	}
	a.registerUploads(mux) // uploads.go, imports.go, subtitles.go
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *archive) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, err := a.cat.List(r.Context(), catalog.ListParams{Limit: limit, Cursor: q.Get("cursor"), Room: q.Get("room"), Status: catalog.Status(q.Get("status")), Query: q.Get("q")})
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, publicPage(page))
}

func (a *archive) handleGet(w http.ResponseWriter, r *http.Request) {
	rec, err := a.cat.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rec.Public())
}

// authorize checks the request's token for grant g on room, writing the error response.
func (a *archive) authorize(w http.ResponseWriter, r *http.Request, room string, g auth.Grant) bool {
	_, ok := a.claims(w, r, room, g)
	return ok
}

// claims is authorize that also returns the token's claims.
func (a *archive) claims(w http.ResponseWriter, r *http.Request, room string, g auth.Grant) (auth.Claims, bool) {
	c, err := a.signer.Authorize(auth.TokenFromRequest(r), room, g)
	switch {
	case err == nil:
		return c, true
	case errors.Is(err, auth.ErrForbidden):
		writeErr(w, http.StatusForbidden, err.Error())
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="relaycast"`)
		writeErr(w, http.StatusUnauthorized, err.Error())
	}
	return c, false
}

func (a *archive) handlePatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := a.cat.Get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if !a.authorize(w, r, rec.Room, auth.GrantPublish) {
		return
	}
	var body struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "body must be JSON {title, description}")
		return
	}
	if body.Title != nil && (strings.TrimSpace(*body.Title) == "" || len(*body.Title) > 200) {
		writeErr(w, http.StatusBadRequest, "title must be 1..200 bytes")
		return
	}
	if body.Description != nil && len(*body.Description) > 5000 {
		writeErr(w, http.StatusBadRequest, "description must be at most 5000 bytes")
		return
	}
	rec, err = a.cat.Update(r.Context(), id, func(rec *catalog.Recording) error {
		if body.Title != nil {
			rec.Title = strings.TrimSpace(*body.Title)
		}
		if body.Description != nil {
			rec.Description = *body.Description
		}
		return nil
	})
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.publish("recording", id, rec)
	writeJSON(w, http.StatusOK, rec.Public())
}

func (a *archive) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := a.cat.Get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if !a.authorize(w, r, rec.Room, auth.GrantAdmin) {
		return
	}
	if a.rec.Live()[id] {
		writeErr(w, http.StatusConflict, "recording is live")
		return
	}
	for _, prefix := range []string{"rec/" + id + "/", "raw/" + id + "/"} {
		if err := a.store.DeletePrefix(r.Context(), prefix); err != nil {
			writeErr(w, http.StatusBadGateway, "storage: "+err.Error())
			return
		}
	}
	if err := os.RemoveAll(filepath.Join(a.rec.Dir(), filepath.Base(id))); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := a.cat.Delete(r.Context(), id); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.publish("deleted", id, map[string]string{"id": id, "room": rec.Room})
	w.WriteHeader(http.StatusNoContent)
}
