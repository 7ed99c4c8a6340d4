// Package httpapi is relaycast's REST API: one file per domain (rooms.go, lots.go, chat.go,
// recordings.go, show.go, uploads.go, imports.go, subtitles.go, admin.go) over the domain packages (sfu rooms,
// archive, uploads), and one shared way to answer errors (errors.go). Register mounts every
// route in one place.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/hibiken/asynqmon"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/uploads"
)

// Rooms is what the API needs of the SFU.
type Rooms interface {
	Rooms() []sfu.RoomInfo
	Room(name string) (sfu.RoomInfo, bool)
	EndRoom(name, reason string) bool
}

// Params configures an API.
type Params struct {
	Config config.Config
	Logger *slog.Logger
	Signer *auth.Signer
	Rooms  Rooms
	// Archive and Uploads are nil when recording is off (--record=false): the recordings,
	// uploads and imports routes are then not mounted and the admin ones answer 404.
	Archive *archive.Archive
	Uploads *uploads.Service
	// Live is the live room (lots, bids, chat, room events); nil: those routes are not mounted.
	Live Live
	// Revocations are the revoked token subjects (revocations.go); nil: not mounted.
	Revocations Revocations
}

// API holds the REST handlers. Close releases asynqmon's Redis connections.
type API struct {
	cfg     config.Config
	log     *slog.Logger
	signer  *auth.Signer
	rooms   Rooms
	a       *archive.Archive
	up      *uploads.Service
	live    Live
	revoked Revocations
	mon     *asynqmon.HTTPHandler
}

// New builds the API of p (it does not mount it: Register does).
func New(p Params) *API {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: p.Config, log: p.Logger.With("component", "httpapi"), signer: p.Signer, rooms: p.Rooms,
		a: p.Archive, up: p.Uploads, live: p.Live, revoked: p.Revocations}
}

// Register mounts every REST route on mux (the one place they are listed):
//
//	GET    /api/rooms, /api/rooms/{room}          rooms.go
//	DELETE /api/rooms/{room}                      rooms.go
//	/api/rooms/{room}/lots[/{id}[/start|end|cancel|bids]]   lots.go
//	GET|POST /api/rooms/{room}/chat, GET /api/rooms/{room}/events (SSE)   chat.go
//	GET    /api/recordings[/{id}], /api/events     recordings.go
//	PATCH|DELETE /api/recordings/{id}             recordings.go
//	POST   /api/recordings/{id}/retry             recordings.go
//	GET    /api/recordings/{id}/chapters|events   show.go
//	GET    /vod/…                                 recordings.go (local storage only)
//	POST   /api/uploads, GET /api/uploads/{id}    uploads.go
//	PUT    /api/uploads/{id}/parts/{n}            uploads.go (local storage only)
//	POST   /api/uploads/{id}/complete             uploads.go
//	POST   /api/imports                           imports.go
//	PUT|DELETE /api/recordings/{id}/subtitles/{lang}   subtitles.go
//	POST|DELETE /api/session, GET /api/admin/jobs, POST /api/admin/jobs/{queue}/{id}/run,
//	/admin/queues/…                               admin.go
//	POST|GET /api/admin/revocations, DELETE /api/admin/revocations/{subject}   revocations.go
func (api *API) Register(mux *http.ServeMux) {
	api.registerRevocations(mux)
	mux.HandleFunc("GET /api/rooms", api.handleRooms)
	mux.HandleFunc("GET /api/rooms/{room}", api.handleRoom)
	mux.HandleFunc("DELETE /api/rooms/{room}", api.handleEndRoom)
	mux.HandleFunc("POST /api/session", api.handleSession)
	mux.HandleFunc("DELETE /api/session", api.handleEndSession)
	if api.live != nil {
		api.registerLive(mux)
	}
	if api.a == nil {
		off := func(w http.ResponseWriter, _ *http.Request) {
			writeErr(w, http.StatusNotFound, "recording is off on this server (--record=false)")
		}
		mux.HandleFunc("POST /api/recordings/{id}/retry", off)
		mux.HandleFunc("GET /api/admin/jobs", off)
		mux.HandleFunc("GET /api/admin/recordings/{id}", off)
		mux.HandleFunc("POST /api/admin/jobs/{queue}/{id}/run", off)
		return
	}
	mux.HandleFunc("GET /api/recordings", api.handleList)
	mux.HandleFunc("GET /api/recordings/{id}", api.handleGet)
	mux.HandleFunc("GET /api/recordings/{id}/chapters", api.handleChapters) // show.go
	mux.HandleFunc("GET /api/recordings/{id}/events", api.handleShowEvents)
	mux.HandleFunc("PATCH /api/recordings/{id}", api.handlePatch)
	mux.HandleFunc("DELETE /api/recordings/{id}", api.handleDelete)
	mux.Handle("GET /api/events", api.eventsHandler())
	if local := api.a.Local(); local != nil {
		mux.Handle("GET /vod/", http.StripPrefix("/vod", local.Handler()))
	}
	mux.HandleFunc("POST /api/recordings/{id}/retry", api.handleRetry)
	mux.HandleFunc("GET /api/admin/jobs", api.handleJobs)
	mux.HandleFunc("GET /api/admin/recordings/{id}", api.handleAdminRecording)
	mux.HandleFunc("POST /api/admin/jobs/{queue}/{id}/run", api.handleRun)
	api.mon = asynqmon.New(asynqmon.Options{RootPath: QueuesPath, RedisConnOpt: api.a.RedisOpt()})
	mux.Handle(QueuesPath+"/", api.guard(api.mon))
	if api.up != nil {
		mux.HandleFunc("POST /api/uploads", api.handleCreateUpload)
		mux.HandleFunc("GET /api/uploads/{id}", api.handleGetUpload)
		mux.HandleFunc("PUT /api/uploads/{id}/parts/{n}", api.handlePart)
		mux.HandleFunc("POST /api/uploads/{id}/complete", api.handleComplete)
		mux.HandleFunc("POST /api/imports", api.handleImport)
		mux.HandleFunc("PUT /api/recordings/{id}/subtitles/{lang}", api.handlePutSubtitles)
		mux.HandleFunc("DELETE /api/recordings/{id}/subtitles/{lang}", api.handleDeleteSubtitles)
	}
}

// Close releases asynqmon's connections (call it before the archive closes).
func (api *API) Close() {
	if api.mon != nil {
		_ = api.mon.Close()
	}
}
