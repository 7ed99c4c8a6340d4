package web

import (
	"strings"
	"testing"
)

func TestUploadPage(t *testing.T) {
	h := newHandler(builtFS())
	res := get(t, h, "GET", "/upload?token=secret&room=shop1", nil)
	if res.StatusCode != 200 || !strings.Contains(body(t, res), "<title>upload</title>") {
		t.Fatalf("status %d", res.StatusCode)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "connect-src 'self' https:", "script-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", res.Header)
	}
	if res := get(t, newHandler(unbuiltFS()), "GET", "/upload", nil); res.StatusCode != 503 {
		t.Errorf("not built: %d", res.StatusCode)
	}
}
