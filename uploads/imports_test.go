package uploads_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/uploads"
)

func TestAddressProblem(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "127.5.5.5": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "fd00::1": "private", "::ffff:10.0.0.1": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local", "0.0.0.0": "unspecified", "::": "unspecified",
		"239.1.2.3": "multicast", "ff05::1": "multicast", "224.0.0.1": "link-local", "100.64.0.1": "reserved", "255.255.255.255": "reserved",
		"2002:7f00:1::": "reserved", "93.184.215.14": "", "2606:4700::1111": "",
	} {
		if got := uploads.AddressProblem(netip.MustParseAddr(addr), false); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	if got := uploads.AddressProblem(netip.MustParseAddr("127.0.0.1"), true); got != "" {
		t.Errorf("loopback allowed for tests: %q", got)
	}
	if got := uploads.AddressProblem(netip.MustParseAddr("10.0.0.1"), true); got != "private" {
		t.Errorf("allowing loopback allowed 10/8: %q", got)
	}
}

// mediaServer serves a generated mp4 at /clip.mp4, redirects at /to-*, 404 elsewhere.
func mediaServer(t *testing.T) *httptest.Server {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clip.mp4")
	if err := testmedia.File(testmedia.FileParams{Path: file, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clip.mp4", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) })
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>hello</html>"))
	})
	mux.HandleFunc("GET /stream.mp4", func(w http.ResponseWriter, r *http.Request) { // no Content-Length
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Type", "video/mp4")
		for i := 0; i < len(b); i += 4096 {
			_, _ = w.Write(b[i:min(len(b), i+4096)])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/clip.mp4", http.StatusFound)
	})
	mux.HandleFunc("GET /to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func startImport(t *testing.T, s *testserver.Archive, token, url string) (int, string, string) {
	t.Helper()
	var out struct {
		RecordingID string `json:"recording_id"`
	}
	code, msg := api(t, http.MethodPost, s.Base+"/api/imports", token, map[string]string{"url": url, "title": "Imported", "room": "shop"}, &out)
	return code, msg, out.RecordingID
}

// TestImport: with loopback allowed (test flag), an import from a local server becomes a ready
// VOD; errors are the contract's; private addresses stay refused, redirects included.
func TestImport(t *testing.T) {
	needTools(t)
	src := mediaServer(t)
	s := startArchive(t, func(c *config.Config) { c.ImportAllowLoopback, c.ImportMaxBytes = true, 50<<20 })
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	for _, tt := range []struct {
		name, token, url string
		code             int
		msg              string
	}{
		{"publisher", s.Token(t, "shop", auth.GrantPublish), src.URL + "/clip.mp4", 403, "does not grant"},
		{"no token", "", src.URL + "/clip.mp4", 401, "token"},
		{"ftp", admin, "ftp://example.com/a.mp4", 400, "http:// or https://"},
		{"malformed", admin, "http://[::1", 400, "http:// or https://"},
		{"404", admin, src.URL + "/none.mp4", 502, "fetching URL: 404 Not Found"},
		{"html page", admin, src.URL + "/page", 400, "not a video file"},
		{"redirect to private", admin, src.URL + "/to-private", 400, "address not allowed: 10.0.0.1 is private"},
		{"redirect to metadata", admin, src.URL + "/to-metadata", 400, "address not allowed: 169.254.169.254 is link-local"},
		{"private literal", admin, "http://192.168.0.10/a.mp4", 400, "address not allowed: 192.168.0.10 is private"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, _ := startImport(t, s, tt.token, tt.url)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("%d %q, want %d with %q", code, msg, tt.code, tt.msg)
			}
		})
	}
	var page catalog.Page
	if getJSON(t, s.Base+"/api/recordings", "", &page); len(page.Recordings) != 0 {
		t.Fatalf("refused imports left recordings: %+v", page.Recordings)
	}
	if testing.Short() {
		return
	}
	events := sse(t, s.Base)
	for _, path := range []string{"/clip.mp4", "/stream.mp4"} {
		t.Run("ready"+path, func(t *testing.T) {
			code, msg, id := startImport(t, s, admin, src.URL+path)
			if code != http.StatusAccepted || id == "" {
				t.Fatalf("%d %q", code, msg)
			}
			r := waitStatus(t, events, id, catalog.StatusReady, 90*time.Second)
			if r.Source != catalog.SourceImport || r.Title != "Imported" || r.Room != "shop" {
				t.Errorf("%+v", r)
			}
			probeRenditions(t, s.Base+r.HLSURL, r, 3, true)
			nothingLeftButVOD(t, s, id)
		})
	}
}

// TestImportLimits: a declared size above the limit is 413 at once; a body without a length
// that grows past it fails the recording and leaves nothing stored.
func TestImportLimits(t *testing.T) {
	needTools(t)
	src := mediaServer(t)
	s := startArchive(t, func(c *config.Config) { c.ImportAllowLoopback, c.ImportMaxBytes = true, 10<<10 })
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	if code, msg, _ := startImport(t, s, admin, src.URL+"/clip.mp4"); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most 10 KiB") {
		t.Fatalf("%d %q", code, msg)
	}
	events := sse(t, s.Base)
	code, msg, id := startImport(t, s, admin, src.URL+"/stream.mp4")
	if code != http.StatusAccepted {
		t.Fatalf("%d %q", code, msg)
	}
	r := waitStatus(t, events, id, catalog.StatusFailed, 30*time.Second)
	if !strings.Contains(r.Error, "bigger than 10 KiB") {
		t.Errorf("error %q", r.Error)
	}
	nothingLeft(t, s, id)
}

// TestImportDefaultRefusesLoopback: without the test flag, loopback is refused whether named by
// address or by a host name that resolves to it (the check is on the dialled address).
func TestImportDefaultRefusesLoopback(t *testing.T) {
	src := mediaServer(t)
	s := startArchive(t, nil)
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(src.URL, "http://"))
	for _, url := range []string{src.URL + "/clip.mp4", "http://localhost:" + port + "/clip.mp4", "http://10.20.30.40/a.mp4", "http://[::1]:" + port + "/clip.mp4"} {
		code, msg, _ := startImport(t, s, admin, url)
		if code != http.StatusBadRequest || !strings.HasPrefix(msg, "address not allowed: ") {
			t.Errorf("%s: %d %q", url, code, msg)
		}
	}
	// The client on its own: the error is ErrAddressNotAllowed.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, src.URL, nil)
	if _, err := uploads.ImportClient(false).Do(req); !errors.Is(err, uploads.ErrAddressNotAllowed) {
		t.Errorf("client error %v", err)
	}
}
