package web

import (
	"io/fs"
	"net/http"
	"testing"
)

func TestBuilt(t *testing.T) {
	partial := builtFS()
	delete(partial, "admin.html")
	for _, tc := range []struct {
		name  string
		files fs.FS
		want  bool
	}{
		{"built", builtFS(), true},
		{"not built", unbuiltFS(), false},
		{"a page missing", partial, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasPages(tc.files); got != tc.want {
				t.Errorf("hasPages = %v, want %v", got, tc.want)
			}
			// Built and the handler agree: a UI counted as built serves its pages.
			served := get(t, newHandler(tc.files), "GET", "/", nil).StatusCode == http.StatusOK
			if served != tc.want {
				t.Errorf("handler serves / = %v, want %v", served, tc.want)
			}
		})
	}
	// This binary's own embed: Built agrees with what NewHandler serves.
	served := get(t, NewHandler(Params{}), "GET", "/", nil).StatusCode == http.StatusOK
	if Built() != served {
		t.Errorf("Built() = %v but the embedded handler serves / = %v", Built(), served)
	}
}
