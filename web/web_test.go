package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		".gitkeep":                {Data: nil},
		"index.html":              {Data: []byte("<!doctype html><title>home</title>")},
		"broadcast.html":          {Data: []byte("<!doctype html><title>broadcast</title>")},
		"watch.html":              {Data: []byte("<!doctype html><title>watch</title>")},
		"vod.html":                {Data: []byte("<!doctype html><title>vod</title>")},
		"admin.html":              {Data: []byte("<!doctype html><title>admin</title>")},
		"upload.html":             {Data: []byte("<!doctype html><title>upload</title>")},
		"studio.html":             {Data: []byte("<!doctype html><title>studio</title>")},
		"assets/app-ABCDEF12.js":  {Data: []byte("console.log(1)")},
		"assets/app-ABCDEF12.css": {Data: []byte("body{}")},
		"assets/plain.txt":        {Data: []byte("plain")},
	}
}

func unbuiltFS() fstest.MapFS {
	return fstest.MapFS{".gitkeep": {Data: nil}}
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRouting(t *testing.T) {
	h := newHandler(builtFS())
	long := strings.Repeat("a", 64)
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantBody   string // substring
		wantCache  string
		wantType   string // prefix
	}{
		{"home", "GET", "/", 200, "<title>home</title>", "no-cache", "text/html"},
		{"home head", "HEAD", "/", 200, "", "no-cache", "text/html"},
		{"broadcast", "GET", "/broadcast/shop1?token=abc", 200, "<title>broadcast</title>", "no-cache", "text/html"},
		{"watch", "GET", "/watch/shop_1-x", 200, "<title>watch</title>", "no-cache", "text/html"},
		{"watch 64 chars", "GET", "/watch/" + long, 200, "<title>watch</title>", "no-cache", "text/html"},
		{"studio", "GET", "/studio/shop1?token=abc", 200, "<title>studio</title>", "no-cache", "text/html"},
		{"studio bad room", "GET", "/studio/-x", 400, "", "", ""},
		{"hashed js", "GET", "/assets/app-ABCDEF12.js", 200, "console.log", "public, max-age=31536000, immutable", "text/javascript"},
		{"hashed css", "GET", "/assets/app-ABCDEF12.css", 200, "body{}", "public, max-age=31536000, immutable", "text/css"},
		{"unhashed asset", "GET", "/assets/plain.txt", 200, "plain", "no-cache", "text/plain"},
		{"missing asset", "GET", "/assets/nope.js", 404, "", "", ""},
		{"asset dir", "GET", "/assets/", 404, "", "", ""},
		{"escaped traversal", "GET", "/assets/..%2Findex.html", 404, "", "", ""},
		{"unknown path", "GET", "/nope", 404, "", "", ""},
		{"page file by name", "GET", "/index.html", 404, "", "", ""},
		{"broadcast without room", "GET", "/broadcast/", 404, "", "", ""},
		{"watch nested", "GET", "/watch/a/b", 404, "", "", ""},
		{"post not allowed", "POST", "/watch/shop1", 405, "", "", ""},
		{"vod", "GET", "/v/20261125T101500Z-shop-0a1b2c3d", 200, "<title>vod</title>", "no-cache", "text/html"},
		{"vod upload id", "GET", "/v/up_abc.1", 200, "<title>vod</title>", "no-cache", "text/html"},
		{"vod bad id", "GET", "/v/..%2Fx", 400, "", "", ""},
		{"vod nested", "GET", "/v/a/b", 404, "", "", ""},
		{"admin", "GET", "/admin", 200, "<title>admin</title>", "no-cache", "text/html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, tc.method, tc.target, nil)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if b := body(t, res); !strings.Contains(b, tc.wantBody) {
				t.Errorf("body %q does not contain %q", b, tc.wantBody)
			}
			if tc.wantCache != "" {
				if got := res.Header.Get("Cache-Control"); got != tc.wantCache {
					t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
				}
			}
			if tc.wantType != "" {
				if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.wantType) {
					t.Errorf("Content-Type = %q, want prefix %q", got, tc.wantType)
				}
			}
		})
	}
}

func TestBadRoomNames(t *testing.T) {
	for _, built := range []bool{true, false} {
		fsys := unbuiltFS()
		if built {
			fsys = builtFS()
		}
		h := newHandler(fsys)
		for _, room := range []string{
			"_leading-underscore",
			"-leading-dash",
			"has.dot",
			"has%20space",
			"has%2Fslash",
			"%C3%A9t%C3%A9",
			strings.Repeat("a", 65),
		} {
			for _, prefix := range []string{"/broadcast/", "/watch/"} {
				t.Run(prefix+room, func(t *testing.T) {
					res := get(t, h, "GET", prefix+room, nil)
					if res.StatusCode != http.StatusBadRequest {
						t.Fatalf("built=%v: status = %d, want 400", built, res.StatusCode)
					}
				})
			}
		}
	}
}

func TestNotBuilt(t *testing.T) {
	h := newHandler(unbuiltFS())
	for _, target := range []string{"/", "/broadcast/shop1", "/watch/shop1", "/assets/app-ABCDEF12.js"} {
		t.Run(target, func(t *testing.T) {
			res := get(t, h, "GET", target, nil)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", res.StatusCode)
			}
			if b := body(t, res); b != NotBuiltMessage {
				t.Errorf("body = %q, want %q", b, NotBuiltMessage)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
		})
	}
	// A half-built dist (a page missing) counts as not built.
	partial := builtFS()
	delete(partial, "watch.html")
	if res := get(t, newHandler(partial), "GET", "/", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("partial build: status = %d, want 503", res.StatusCode)
	}
}

func TestPageHeaders(t *testing.T) {
	h := newHandler(builtFS())

	res := get(t, h, "GET", "/broadcast/shop1?token=secret", nil)
	if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer (the URL carries a token)", got)
	}
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("broadcast CSP %q should forbid framing", got)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on pages")
	}
	if res := get(t, h, "GET", "/broadcast/shop1", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: status = %d, want 304", res.StatusCode)
	}

	res = get(t, h, "GET", "/watch/shop1", nil)
	if got := res.Header.Get("Content-Security-Policy"); strings.Contains(got, "frame-ancestors") {
		t.Errorf("watch CSP %q should allow embedding", got)
	}
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "img-src 'self' data: https:;") || !strings.Contains(got, "script-src 'self';") {
		t.Errorf("watch CSP %q: lot images come from https origins, scripts only from this one", got)
	}
	res = get(t, h, "GET", "/admin", nil)
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("admin page may be framed: CSP %q", got)
	}
	if got := res.Header.Get("Content-Security-Policy"); strings.Contains(got, "https:;") {
		t.Errorf("admin CSP %q allows images from anywhere", got)
	}
	// The studio page takes a publish token: never framed, no referrer.
	res = get(t, h, "GET", "/studio/shop1?token=secret", nil)
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("studio page headers: CSP %q, XFO %q", got, res.Header.Get("X-Frame-Options"))
	}
}

// TestMediaOrigins: the VOD's S3/CDN origin is allowed for media, images and fetches, and
// nothing that could break out of the header is.
func TestMediaOrigins(t *testing.T) {
	csp := buildCSP([]string{"https://cdn.example.com/", "https://x; script-src *", " "})
	for _, dir := range []string{"img-src 'self' data: https://cdn.example.com;", "media-src 'self' blob: mediastream: https://cdn.example.com;", "connect-src 'self' https://cdn.example.com;"} {
		if !strings.Contains(csp, dir) {
			t.Errorf("CSP %q lacks %q", csp, dir)
		}
	}
	if strings.Contains(csp, "script-src *") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("CSP %q let an injected directive through", csp)
	}
	if got := buildCSP(nil); strings.Contains(got, "cdn") || !strings.Contains(got, "connect-src 'self';") {
		t.Errorf("default CSP %q", got)
	}
}

// TestEmbedded checks the real embedded dist: whether or not `make web` ran,
// the handler must answer consistently (all pages 200, or all 503).
func TestEmbedded(t *testing.T) {
	h := Handler()
	first := get(t, h, "GET", "/", nil).StatusCode
	if first != http.StatusOK && first != http.StatusServiceUnavailable {
		t.Fatalf("GET / = %d, want 200 or 503", first)
	}
	for _, target := range []string{"/broadcast/shop1", "/watch/shop1", "/v/x", "/admin"} {
		if got := get(t, h, "GET", target, nil).StatusCode; got != first {
			t.Errorf("GET %s = %d, but GET / = %d", target, got, first)
		}
	}
	if first == http.StatusOK {
		b := body(t, get(t, h, "GET", "/", nil))
		i := strings.Index(b, "/assets/")
		if i < 0 {
			t.Fatal("built home page links no /assets/")
		}
		end := strings.IndexAny(b[i:], `"'`)
		asset := b[i : i+end]
		res := get(t, h, "GET", asset, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", asset, res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q, want immutable", asset, cc)
		}
	}
}
