package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiteNav (issue 12): every archive page — library, player, upload, admin — carries the site
// navigation (Library, Upload, Admin), marking its own entry; the upload page had none.
func TestSiteNav(t *testing.T) {
	for _, tc := range []struct{ file, current string }{
		{"index.html", "/"},
		{"vod.html", ""},
		{"upload.html", "/upload"},
		{"admin.html", "/admin"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("ui", "static", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			start := strings.Index(page, `<nav class="topbar-nav" aria-label="Main">`)
			if start < 0 {
				t.Fatal("no site navigation")
			}
			nav := page[start : start+strings.Index(page[start:], "</nav>")]
			for _, href := range []string{`href="/"`, `href="/upload"`, `href="/admin"`} {
				if !strings.Contains(nav, href) {
					t.Errorf("navigation lacks %s", href)
				}
			}
			if tc.current != "" && !strings.Contains(nav, `href="`+tc.current+`" aria-current="page"`) {
				t.Errorf("navigation does not mark %s as the current page", tc.current)
			}
		})
	}
}
