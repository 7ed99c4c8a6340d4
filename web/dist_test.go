package web

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDistCommitted: the built UI is part of the source tree, so a binary made with plain
// `go build ./cmd/relaycast` or `go install …@version` (no npm, no make) serves every page.
// scripts/test.sh checks that the committed files match a fresh build of web/ui.
func TestDistCommitted(t *testing.T) {
	if out, err := exec.Command("git", "ls-files", "--", "dist").Output(); err == nil {
		tracked := map[string]bool{}
		for _, f := range strings.Fields(string(out)) {
			tracked[strings.TrimPrefix(f, "dist/")] = true
		}
		if !tracked["index.html"] {
			t.Error("web/dist/index.html is not tracked by git: `go install` would give a binary without pages")
		}
		// Every file of the build must be committed, not only the pages: a page whose script is
		// missing from the commit is blank in a `go install` binary.
		entries, err := os.ReadDir("dist/assets")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !tracked["assets/"+e.Name()] {
				t.Errorf("web/dist/assets/%s is built but not tracked by git", e.Name())
			}
		}
	} else {
		t.Logf("not a git checkout (%v): checking the embedded files only", err)
	}
	h := Handler()
	for _, target := range []string{"/", "/broadcast/shop1", "/watch/shop1", "/v/x", "/admin", "/upload"} {
		if got := get(t, h, "GET", target, nil).StatusCode; got != http.StatusOK {
			t.Errorf("GET %s = %d, want 200 (embedded UI missing?)", target, got)
		}
	}
}
