package server

import (
	"strings"
	"testing"
)

// The start banner prints the page links only when the web UI is in the binary; without it,
// it says the pages are missing and how to get them (defect 5).
func TestBanner(t *testing.T) {
	for _, tc := range []struct {
		name          string
		built         bool
		want, notWant []string
	}{
		{"built", true,
			[]string{"Go live:   http://h:1/broadcast/demo?token=TOK", "Watch:     http://h:1/watch/demo", "/whip/demo", "/whep/demo", "Rooms:     http://h:1/"},
			[]string{"NOT BUILT"}},
		{"not built", false,
			[]string{"Web UI:    NOT BUILT", "`make build`", "503", "/whip/demo", "/whep/demo", "Token:     TOK", "/api/rooms"},
			[]string{"Go live:", "Watch:", "/broadcast/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeBanner(&b, "http://h:1", "demo", "TOK", tc.built); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("banner lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("banner has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
