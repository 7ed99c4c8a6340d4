package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// TestAdminImport: the "Import from URL" form of /admin. With the default configuration the server
// refuses a loopback address and a non-http(s) URL; the page shows the API's error next to the form
// and keeps the inputs. A server that allows loopback imports a real clip from a local HTTP
// server: the page shows "Importing…" with the link to the player, the recording appears in the
// list and becomes ready.
func TestAdminImport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	ctx := browser(t)

	// Default configuration: loopback and other schemes are refused.
	strict := testserver.Start(t, nil)
	if code, err := httpGet(strict.URL() + "/admin"); err != nil || code != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("admin page not served (%d, %v): is the web UI built?", code, err)
		}
		t.Skipf("web UI not built (%d)", code)
	}
	pg := tab(t, ctx)
	signInAdmin(t, pg, strict)
	submitImport(t, pg, "http://127.0.0.1:1/x.mp4", "Loopback", "shop")
	waitJS(t, pg, 15*time.Second, `!document.getElementById("import-error").hidden && document.getElementById("import-error").textContent.includes("address not allowed")`, "the loopback refusal")
	if got := evalJS[string](t, pg, `document.getElementById("import-error").getAttribute("role")`); got != "alert" {
		t.Errorf("import error role %q, want alert", got)
	}
	if got := evalJS[string](t, pg, `[document.getElementById("import-url").value, document.getElementById("import-title-input").value, document.getElementById("import-room").value].join("|")`); got != "http://127.0.0.1:1/x.mp4|Loopback|shop" {
		t.Errorf("inputs after the error: %q, want them kept", got)
	}
	if f := evalJS[string](t, pg, `document.activeElement.id`); f != "import-url" {
		t.Errorf("focus after the error on %q, want the URL field", f)
	}
	if !evalJS[bool](t, pg, `document.getElementById("import-result").hidden`) {
		t.Error("a result shows next to the error")
	}
	submitImport(t, pg, "ftp://example.com/a.mp4", "", "")
	waitJS(t, pg, 15*time.Second, `!document.getElementById("import-error").hidden && !document.getElementById("import-error").textContent.includes("address not allowed")`, "the refusal of an ftp URL")
	ftpErr := evalJS[string](t, pg, `document.getElementById("import-error").textContent`)
	t.Logf("ftp URL: %s", ftpErr)
	if !strings.Contains(ftpErr, "http") {
		t.Errorf("ftp error %q does not say that http(s) is needed", ftpErr)
	}
	if n := len(recordings(t, strict)); n != 0 {
		t.Errorf("refused imports made %d recordings", n)
	}
	screenshots(t, pg, "admin-import-error")
	tabThrough(t, pg, "admin with the import form")

	// A server that may fetch from loopback imports a real clip.
	srv := testserver.Start(t, func(c *config.Config) { c.Workers, c.ImportAllowLoopback = 1, true })
	media := clipServer(t)
	pg2 := tab(t, ctx)
	signInAdmin(t, pg2, srv)
	submitImport(t, pg2, media.URL+"/clip.mp4", "Imported talk", "talks")
	waitJS(t, pg2, 15*time.Second, `!document.getElementById("import-result").hidden && document.getElementById("import-result").textContent.startsWith("Importing…")`, "the import to start")
	if !evalJS[bool](t, pg2, `document.getElementById("import-error").hidden`) {
		t.Errorf("an error shows after a good import: %q", evalJS[string](t, pg2, `document.getElementById("import-error").textContent`))
	}
	href := evalJS[string](t, pg2, `document.querySelector("#import-result a").getAttribute("href")`)
	rec := waitRecording(t, srv, "talks", catalog.StatusReady, 45*time.Second)
	if href != "/v/"+rec.ID {
		t.Errorf("link %q, want /v/%s", href, rec.ID)
	}
	if rec.Title != "Imported talk" {
		t.Errorf("title %q", rec.Title)
	}
	// The recordings list follows /api/events: the imported recording shows up and turns ready.
	waitJS(t, pg2, 15*time.Second, `!!document.querySelector('#recs tr[data-id="`+rec.ID+`"][data-status="ready"]')`, "the imported recording in the list, ready")
	screenshots(t, pg2, "admin-import")
}

// signInAdmin opens /admin on srv and signs in with an admin token from the keyboard.
func signInAdmin(t *testing.T, pg context.Context, srv *server.Server) {
	t.Helper()
	navigate(t, pg, srv.URL()+"/admin")
	setValue(t, pg, "#token", adminToken(t, srv))
	press(t, pg, kb.Enter)
	waitJS(t, pg, 15*time.Second, `window.relaycast.signedIn && !window.relaycast.busy`, "sign-in")
}

// submitImport fills the import form and submits it with Enter from the URL field.
func submitImport(t *testing.T, pg context.Context, url, title, room string) {
	t.Helper()
	setValue(t, pg, "#import-title-input", title)
	setValue(t, pg, "#import-room", room)
	setValue(t, pg, "#import-url", url)
	press(t, pg, kb.Enter)
}

// clipServer serves a generated 3 s mp4 at /clip.mp4 on loopback.
func clipServer(t *testing.T) *httptest.Server {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clip.mp4")
	if err := testmedia.File(testmedia.FileParams{Path: file, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clip.mp4", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
