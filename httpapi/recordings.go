package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/events"
)

// Recordings (routes in Register):
//
//	GET    /api/recordings            newest first; ?limit=20&cursor=…&room=…&status=…&q=title text
//	GET    /api/recordings/{id}
//	PATCH  /api/recordings/{id}       {"title": …, "description": …}; publisher of the room or admin
//	DELETE /api/recordings/{id}       admin; removes the files too
//	POST   /api/recordings/{id}/retry admin: restart a failed recording's processing
//	GET    /api/events                Server-Sent Events; ?id=… or ?room=… to filter
//	GET    /vod/…                     the local VOD directory (without S3)

func (api *API) eventsHandler() http.Handler {
	return api.a.Events().Handler(15*time.Second, func(r *http.Request, e events.Event) bool {
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
	})
}

func (api *API) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, err := api.a.Catalog().List(r.Context(), catalog.ListParams{Limit: limit, Cursor: q.Get("cursor"), Room: q.Get("room"), Status: catalog.Status(q.Get("status")), Query: q.Get("q")})
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, publicPage(page))
}

func (api *API) handleGet(w http.ResponseWriter, r *http.Request) {
	if rec, ok := api.recording(w, r); ok {
		writeJSON(w, http.StatusOK, rec.Public())
	}
}

// recording reads the recording of the request's {id}, answering 404 or 500 when it can't.
func (api *API) recording(w http.ResponseWriter, r *http.Request) (catalog.Recording, bool) {
	rec, err := api.a.Catalog().Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return rec, false
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return rec, false
	}
	return rec, true
}

func (api *API) handlePatch(w http.ResponseWriter, r *http.Request) {
	if !api.authenticate(w, r) {
		return
	}
	if !requireContentType(w, r, "application/json") {
		return
	}
	id := r.PathValue("id")
	rec, err := api.a.Catalog().Get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if !api.authorize(w, r, rec.Room, auth.GrantPublish) {
		return
	}
	var body struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
	}
	if !decodeJSON(w, r, 64<<10, &body, "body must be JSON {title, description}") {
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
	rec, err = api.a.Catalog().Update(r.Context(), id, func(rec *catalog.Recording) error {
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
	api.a.Publish("recording", id, rec)
	writeJSON(w, http.StatusOK, rec.Public())
}

func (api *API) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !api.authenticate(w, r) {
		return
	}
	id := r.PathValue("id")
	rec, err := api.a.Catalog().Get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return
	}
	if !api.authorize(w, r, rec.Room, auth.GrantAdmin) {
		return
	}
	if err := api.a.Delete(r.Context(), rec); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *API) handleRetry(w http.ResponseWriter, r *http.Request) {
	if !api.isAdmin(w, r) {
		return
	}
	rec, err := api.a.Retry(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		writeErr(w, http.StatusNotFound, "no such recording")
	case err != nil:
		writeError(w, err)
	default:
		writeJSON(w, http.StatusAccepted, rec)
	}
}

// publicPage strips the operator log from a page of recordings.
func publicPage(p catalog.Page) catalog.Page {
	for i := range p.Recordings {
		p.Recordings[i] = p.Recordings[i].Public()
	}
	return p
}
