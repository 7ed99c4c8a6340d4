package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/transcode"
)

// AdminCookie is the cookie POST /api/session sets: the admin JWT itself, HttpOnly and
// SameSite=Strict, so the browser can open /admin/queues (asynqmon) without a token in the URL.
const AdminCookie = "relaycast_admin"

// QueuesPath is where asynqmon is mounted.
const QueuesPath = "/admin/queues"

var (
	errNotFailed      = errors.New("recording is not failed")
	errNothingToRetry = errors.New("nothing to retry: the raw files are gone and no failed job is left")
)

// roomEnder is what the admin API needs of the SFU.
type roomEnder interface {
	EndRoom(name, reason string) bool
}

// adminAPI holds the operator endpoints (DELETE /api/rooms/{room}, retry, jobs, session) and
// asynqmon. The archive parts are nil when recording is off.
type adminAPI struct {
	log    *slog.Logger
	signer *auth.Signer
	rooms  roomEnder
	a      *archive
	ins    *asynq.Inspector
	mon    *asynqmon.HTTPHandler
}

// registerAdmin mounts the admin endpoints on mux; the returned function closes their Redis
// connections (call it before the archive closes).
//
//	DELETE /api/rooms/{room}                   admin or the room's publisher: end the broadcast
//	POST   /api/recordings/{id}/retry          admin: restart a failed recording's processing
//	GET    /api/admin/jobs?state=…             admin: asynq tasks (archived by default)
//	POST   /api/admin/jobs/{queue}/{id}/run    admin: run an archived/retry/scheduled task now
//	POST   /api/session, DELETE /api/session   admin: set / clear the relaycast_admin cookie
//	       /admin/queues/…                     asynqmon, behind the cookie or a Bearer admin token
func registerAdmin(mux *http.ServeMux, logger *slog.Logger, signer *auth.Signer, rooms roomEnder, a *archive) func() {
	ad := &adminAPI{log: logger.With("component", "admin"), signer: signer, rooms: rooms, a: a}
	mux.HandleFunc("DELETE /api/rooms/{room}", ad.handleEndRoom)
	mux.HandleFunc("POST /api/session", ad.handleSession)
	mux.HandleFunc("DELETE /api/session", ad.handleEndSession)
	if a == nil {
		off := func(w http.ResponseWriter, _ *http.Request) {
			writeErr(w, http.StatusNotFound, "recording is off on this server (--record=false)")
		}
		mux.HandleFunc("POST /api/recordings/{id}/retry", off)
		mux.HandleFunc("GET /api/admin/jobs", off)
		mux.HandleFunc("POST /api/admin/jobs/{queue}/{id}/run", off)
		return func() {}
	}
	ad.ins = asynq.NewInspector(a.redisOpt)
	ad.mon = asynqmon.New(asynqmon.Options{RootPath: QueuesPath, RedisConnOpt: a.redisOpt})
	mux.HandleFunc("POST /api/recordings/{id}/retry", ad.handleRetry)
	mux.HandleFunc("GET /api/admin/jobs", ad.handleJobs)
	mux.HandleFunc("GET /api/admin/recordings/{id}", ad.handleAdminRecording) // archive_tracks.go
	mux.HandleFunc("POST /api/admin/jobs/{queue}/{id}/run", ad.handleRun)
	mux.Handle(QueuesPath+"/", ad.guard(ad.mon))
	return func() {
		_ = ad.mon.Close()
		_ = ad.ins.Close()
	}
}

// authorize checks for grant g on room (Bearer header or ?token=), writing the error response.
func (ad *adminAPI) authorize(w http.ResponseWriter, r *http.Request, room string, g auth.Grant) bool {
	_, err := ad.signer.Authorize(auth.TokenFromRequest(r), room, g)
	return authError(w, err)
}

// isAdmin: a token for every room with the admin grant.
func (ad *adminAPI) isAdmin(w http.ResponseWriter, r *http.Request) bool {
	return ad.authorize(w, r, auth.AnyRoom, auth.GrantAdmin)
}

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

func (ad *adminAPI) handleEndRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !signaling.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, "bad room name: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit")
		return
	}
	if !ad.authorize(w, r, room, auth.GrantPublish) {
		return
	}
	if !ad.rooms.EndRoom(room, "ended by an operator") {
		writeErr(w, http.StatusNotFound, "room is not live")
		return
	}
	ad.log.Info("broadcast ended over the API", "room", room)
	w.WriteHeader(http.StatusNoContent)
}

// ---- session cookie ----

func (ad *adminAPI) handleSession(w http.ResponseWriter, r *http.Request) {
	tok := auth.TokenFromRequest(r)
	c, err := ad.signer.Authorize(tok, auth.AnyRoom, auth.GrantAdmin)
	if !authError(w, err) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: AdminCookie, Value: tok, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: c.ExpiresAt, MaxAge: int(time.Until(c.ExpiresAt).Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (ad *adminAPI) handleEndSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: AdminCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// guard lets through requests with an admin Bearer token or the admin cookie; others get 401.
func (ad *adminAPI) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := auth.TokenFromRequest(r)
		if tok == "" {
			if c, err := r.Cookie(AdminCookie); err == nil {
				tok = c.Value
			}
		}
		if _, err := ad.signer.Authorize(tok, auth.AnyRoom, auth.GrantAdmin); err != nil {
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

// ---- retry ----

func (ad *adminAPI) handleRetry(w http.ResponseWriter, r *http.Request) {
	if !ad.isAdmin(w, r) {
		return
	}
	rec, err := ad.a.retry(r.Context(), ad.ins, r.PathValue("id"))
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		writeErr(w, http.StatusNotFound, "no such recording")
	case errors.Is(err, errNotFailed), errors.Is(err, errNothingToRetry):
		writeErr(w, http.StatusConflict, err.Error())
	case err != nil:
		writeErr(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, rec)
	}
}

// retry restarts a failed recording. With its raw files on disk it does what the reconciler does
// at startup (upload the chunks not done yet again, enqueue them and the finalize job) after
// removing the recording's dead tasks from the queue, whose task IDs would refuse the new ones.
// Without raw files (an upload, or past retention) it runs the dead tasks again as they are.
func (a *archive) retry(ctx context.Context, ins *asynq.Inspector, id string) (catalog.Recording, error) {
	rec, err := a.cat.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	if rec.Status != catalog.StatusFailed {
		return rec, fmt.Errorf("%w (it is %s)", errNotFailed, rec.Status)
	}
	dead, err := deadTasks(ins, id)
	if err != nil {
		return rec, fmt.Errorf("queue: %w", err)
	}
	var onDisk *recorder.Pending
	pending, _ := recorder.Scan(a.rec.Dir(), a.rec.Live())
	for i := range pending {
		if pending[i].Manifest.ID == id {
			onDisk = &pending[i]
		}
	}
	if onDisk == nil && len(dead) == 0 {
		return rec, errNothingToRetry
	}
	rec, err = a.cat.Update(ctx, id, func(r *catalog.Recording) error {
		r.Status, r.Error, r.Progress = catalog.StatusProcessing, "", 0
		return nil
	})
	if err != nil {
		return rec, err
	}
	a.log.Info("retrying recording", "recording", id, "raw_on_disk", onDisk != nil, "dead_tasks", len(dead))
	if onDisk == nil {
		for _, t := range dead {
			if err := ins.RunTask(t.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				a.setFailed(id, "retry: "+err.Error())
				return rec, fmt.Errorf("queue: %w", err)
			}
		}
	} else {
		for _, t := range dead {
			if err := ins.DeleteTask(t.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				a.setFailed(id, "retry: "+err.Error())
				return rec, fmt.Errorf("queue: %w", err)
			}
		}
		m := onDisk.Manifest
		for i := range onDisk.Chunks {
			c := onDisk.Chunks[i]
			if ok, _ := a.exists(ctx, transcode.ChunkDoneKey(id, c.Index)); ok {
				continue
			}
			if c.Width == 0 {
				c.Width, c.Height = m.Width, m.Height
			}
			a.submit(archiveJob{chunk: &c})
		}
		a.submit(archiveJob{end: &m})
	}
	a.publish("recording", id, rec)
	return rec, nil
}

// deadTasks are the recording's tasks that will not run again by themselves: archived (failed
// for good) or waiting to retry.
func deadTasks(ins *asynq.Inspector, recordingID string) ([]*asynq.TaskInfo, error) {
	var out []*asynq.TaskInfo
	err := eachTask(ins, []string{"archived", "retry"}, func(t *asynq.TaskInfo) {
		if payloadRecording(t.Payload) == recordingID {
			out = append(out, t)
		}
	})
	return out, err
}

// eachTask calls fn for every task in the given states of every queue (100 per page).
func eachTask(ins *asynq.Inspector, states []string, fn func(*asynq.TaskInfo)) error {
	queues, err := ins.Queues()
	if err != nil {
		return err
	}
	for _, q := range queues {
		for _, st := range states {
			list := listFunc(ins, st)
			for page := 1; ; page++ {
				ts, err := list(q, asynq.PageSize(100), asynq.Page(page))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return err
				}
				for _, t := range ts {
					fn(t)
				}
				if len(ts) < 100 {
					break
				}
			}
		}
	}
	return nil
}

func listFunc(ins *asynq.Inspector, state string) func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
	switch state {
	case "retry":
		return ins.ListRetryTasks
	case "active":
		return ins.ListActiveTasks
	case "pending":
		return ins.ListPendingTasks
	case "scheduled":
		return ins.ListScheduledTasks
	default:
		return ins.ListArchivedTasks
	}
}

func payloadRecording(b []byte) string {
	var p struct {
		RecordingID string `json:"recording_id"`
	}
	_ = json.Unmarshal(b, &p)
	return p.RecordingID
}

// ---- jobs ----

type jobJSON struct {
	ID           string     `json:"id"`
	Queue        string     `json:"queue"`
	Type         string     `json:"type"`
	State        string     `json:"state"`
	RecordingID  string     `json:"recording_id"`
	Error        string     `json:"error"`
	Retried      int        `json:"retried"`
	MaxRetry     int        `json:"max_retry"`
	LastFailedAt *time.Time `json:"last_failed_at,omitempty"`
}

func (ad *adminAPI) handleJobs(w http.ResponseWriter, r *http.Request) {
	if !ad.isAdmin(w, r) {
		return
	}
	state := r.URL.Query().Get("state")
	switch state {
	case "":
		state = "archived"
	case "archived", "retry", "active", "pending", "scheduled":
	default:
		writeErr(w, http.StatusBadRequest, "state must be one of archived, retry, active, pending, scheduled")
		return
	}
	jobs := []jobJSON{}
	err := eachTask(ad.ins, []string{state}, func(t *asynq.TaskInfo) {
		j := jobJSON{ID: t.ID, Queue: t.Queue, Type: t.Type, State: t.State.String(), RecordingID: payloadRecording(t.Payload),
			Error: transcode.CleanLog(t.LastErr), Retried: t.Retried, MaxRetry: t.MaxRetry}
		if !t.LastFailedAt.IsZero() {
			at := t.LastFailedAt.UTC()
			j.LastFailedAt = &at
		}
		jobs = append(jobs, j)
	})
	if err != nil {
		writeErr(w, http.StatusBadGateway, "queue: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func (ad *adminAPI) handleRun(w http.ResponseWriter, r *http.Request) {
	if !ad.isAdmin(w, r) {
		return
	}
	queue, id := r.PathValue("queue"), r.PathValue("id")
	info, err := ad.ins.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrQueueNotFound) || errors.Is(err, asynq.ErrTaskNotFound) {
		writeErr(w, http.StatusNotFound, "no such job")
		return
	}
	if err != nil {
		writeErr(w, http.StatusBadGateway, "queue: "+err.Error())
		return
	}
	if err := ad.ins.RunTask(queue, id); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			writeErr(w, http.StatusNotFound, "no such job")
		} else {
			writeErr(w, http.StatusConflict, "cannot run the job now: "+err.Error())
		}
		return
	}
	// The recording it belongs to is being processed again.
	if rid := payloadRecording(info.Payload); rid != "" {
		if rec, err := ad.a.cat.Update(r.Context(), rid, func(rec *catalog.Recording) error {
			if rec.Status != catalog.StatusFailed {
				return errNoChange
			}
			rec.Status, rec.Error = catalog.StatusProcessing, ""
			return nil
		}); err == nil {
			ad.a.publish("recording", rid, rec)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
