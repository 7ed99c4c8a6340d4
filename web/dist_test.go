package web

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestDistCommitted: the built UI is part of the source tree, so a binary made with plain
// `go build ./cmd/relaycast` or `go install …@version` (no npm, no make) serves every page.
// scripts/test.sh checks that the committed files match a fresh build of web/ui.
func TestDistCommitted(t *testing.T) {
	if out, err := exec.Command("git", "ls-files", "--", "dist/index.html").Output(); err == nil {
		if strings.TrimSpace(string(out)) == "" {
			t.Error("web/dist/index.html is not tracked by git: `go install` would give a binary without pages")
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
