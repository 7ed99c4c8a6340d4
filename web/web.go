// Package web serves relaycast's browser UI: the library (rooms live now and
// the archive), the broadcast and watch pages, the VOD player and the admin page. The pages are built from web/ui with
// npm (`make web`) into web/dist and embedded into the binary. When the UI was
// not built, every route answers 503 with a hint, so the Go code always
// compiles and tests without Node.
//
// The pages talk to the server only through /ws (signaling/PROTOCOL.md), /api/…
// and /vod/… (or the S3 origin in Params.MediaOrigins); this package serves files
// and nothing else.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// NotBuiltMessage is the body of the 503 answered when web/dist holds no UI.
const NotBuiltMessage = "web UI not built: run `make web`\n"

var (
	roomRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	// Recording ids: recorder.NewID makes 20060102T150405Z-room-hex; uploads may differ.
	recordingRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// Build output names carry an esbuild content hash: name-HASH8.ext[.map].
	hashedRE = regexp.MustCompile(`-[A-Z0-9]{8}\.[a-z0-9.]+$`)
)

// pages the handler serves, by file name in dist.
const (
	homePage      = "index.html"
	broadcastPage = "broadcast.html"
	watchPage     = "watch.html"
	vodPage       = "vod.html"
	adminPage     = "admin.html"
	uploadPage    = "upload.html"
	studioPage    = "studio.html"
)

// Handler returns the UI handler. Mount it at "/" next to /ws and /api/:
//
//	GET /                  library: rooms live now and the archive (?q= searches)
//	GET /broadcast/{room}  broadcast page (?token=…&autostart=1)
//	GET /watch/{room}      watch page with the live room (?token=… or #token=…, kept per room; ?currency=)
//	GET /studio/{room}     seller console without a camera, for OBS (?token=… with publish)
//	GET /v/{id}            VOD player of a recording
//	GET /admin             admin page
//	GET /upload            upload page (?token=…&room=…)
//	GET /assets/…          bundled JS/CSS, content-hashed, cached for a year
//
// Other paths are 404; malformed room names and recording ids are 400.
func Handler() http.Handler { return NewHandler(Params{}) }

// Params configures NewHandler.
type Params struct {
	// MediaOrigins are origins (scheme://host[:port]) besides the page's own that the pages may
	// load video, posters, subtitles and playlists from: the S3 bucket or CDN of the VOD.
	MediaOrigins []string
}

// NewHandler is Handler with parameters.
func NewHandler(p Params) http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // cannot happen: "dist" is a valid path
		panic(err)
	}
	h := newHandler(sub).(*handler)
	h.csp = buildCSP(p.MediaOrigins)
	return h
}

type page struct {
	body []byte
	etag string
}

type handler struct {
	http.Handler
	files fs.FS
	pages map[string]page // nil when the UI was not built
	csp   string
}

func newHandler(files fs.FS) http.Handler {
	h := &handler{files: files, csp: buildCSP(nil)}
	pages := make(map[string]page, 7)
	for _, name := range []string{homePage, broadcastPage, watchPage, vodPage, adminPage, uploadPage, studioPage} {
		body, err := fs.ReadFile(files, name)
		if err != nil {
			pages = nil
			break
		}
		sum := sha256.Sum256(body)
		pages[name] = page{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	h.pages = pages

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.servePage(homePage, false))
	mux.HandleFunc("GET /broadcast/{room}", h.servePage(broadcastPage, true))
	mux.HandleFunc("GET /watch/{room}", h.servePage(watchPage, true))
	mux.HandleFunc("GET /studio/{room}", h.servePage(studioPage, true))
	mux.HandleFunc("GET /v/{id}", h.servePage(vodPage, false))
	mux.HandleFunc("GET /admin", h.servePage(adminPage, false))
	mux.HandleFunc("GET /upload", h.servePage(uploadPage, false))
	mux.HandleFunc("GET /assets/{file...}", h.serveAsset)
	h.Handler = mux
	return h
}

func (h *handler) built() bool { return h.pages != nil }

func notBuilt(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "60")
	http.Error(w, strings.TrimSuffix(NotBuiltMessage, "\n"), http.StatusServiceUnavailable)
}

// buildCSP allows only same-origin scripts, styles and connections (including the
// same-origin WebSocket), plus the inline data: favicon; media (HLS playlists and
// segments fetched by hls.js, posters, subtitles) may also come from the given origins.
func buildCSP(mediaOrigins []string) string {
	extra := ""
	for _, o := range mediaOrigins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" && !strings.ContainsAny(o, " ;,'\"") {
			extra += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:" + extra + "; " +
		"media-src 'self' blob: mediastream:" + extra + "; connect-src 'self'" + extra + "; object-src 'none'; base-uri 'none'; form-action 'self'"
}

func (h *handler) servePage(name string, withRoom bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if withRoom && !roomRE.MatchString(r.PathValue("room")) {
			http.Error(w, "bad room name: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit", http.StatusBadRequest)
			return
		}
		if name == vodPage && !recordingRE.MatchString(r.PathValue("id")) {
			http.Error(w, "bad recording id", http.StatusBadRequest)
			return
		}
		if !h.built() {
			notBuilt(w)
			return
		}
		p := h.pages[name]
		hd := w.Header()
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("ETag", p.etag)
		hd.Set("X-Content-Type-Options", "nosniff")
		// The page URL may carry a token: never leak it in a Referer.
		hd.Set("Referrer-Policy", "no-referrer")
		if name == broadcastPage {
			// The broadcast page drives the camera: no framing, and it may use camera, mic and screen.
			hd.Set("Content-Security-Policy", liveCSP(h.csp)+"; frame-ancestors 'none'")
			hd.Set("X-Frame-Options", "DENY")
			hd.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
		} else if name == studioPage {
			// The seller's console takes a publish token: no framing.
			hd.Set("Content-Security-Policy", liveCSP(h.csp)+"; frame-ancestors 'none'")
			hd.Set("X-Frame-Options", "DENY")
		} else if name == watchPage {
			hd.Set("Content-Security-Policy", liveCSP(h.csp))
		} else if name == adminPage {
			hd.Set("Content-Security-Policy", h.csp+"; frame-ancestors 'none'")
			hd.Set("X-Frame-Options", "DENY")
		} else {
			// Watch, library and player pages may be embedded in a shop's site.
			hd.Set("Content-Security-Policy", h.csp)
		}
		if name == uploadPage {
			// The upload page takes a token (no framing) and PUTs files straight to the storage:
			// presigned S3 URLs are on another origin (https, or a local S3 on http://localhost).
			hd.Set("Content-Security-Policy", uploadCSP(h.csp))
			hd.Set("X-Frame-Options", "DENY")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(p.body))
	}
}

// liveCSP lets the live pages show the images of lots and pinned products, which sellers give
// as https URLs on their own shop's origin (images only; scripts and connections stay same-origin).
func liveCSP(csp string) string {
	return strings.Replace(csp, "img-src 'self' data:", "img-src 'self' data: https:", 1)
}

func uploadCSP(csp string) string {
	return strings.Replace(csp, "connect-src 'self'", "connect-src 'self' https: http://localhost:* http://127.0.0.1:*", 1) +
		"; frame-ancestors 'none'"
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	if !h.built() {
		notBuilt(w)
		return
	}
	name := r.PathValue("file")
	if name == "" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	full := path.Join("assets", name)
	f, err := h.files.Open(full)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.IsDir() {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.Error(w, "asset not seekable", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	if hashedRE.MatchString(name) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if strings.HasSuffix(name, ".map") {
		hd.Set("Content-Type", "application/json")
	}
	http.ServeContent(w, r, name, time.Time{}, rs)
}
