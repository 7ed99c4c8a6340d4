package transcode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaycast/relaycast/storage"
)

// TestSweepScratch: the sweep at start removes the scratch directories of processes that are
// gone and old ones of earlier versions, and leaves those of live processes (another worker on
// the same data dir) and fresh ones alone.
func TestSweepScratch(t *testing.T) {
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dirs := map[string]bool{ // name → kept
		fmt.Sprintf("%s%d-111", tmpPrefix, dead.Process.Pid): false,
		fmt.Sprintf("%s%d-222", tmpPrefix, os.Getpid()):      true,
		fmt.Sprintf("%s%d-333", tmpPrefix, os.Getppid()):     true,
		tmpPrefix + "4444444":                                false, // an older version's, 2 h old
		tmpPrefix + "5555555":                                true,  // an older version's, fresh
		"other-dir":                                          true,
	}
	for name := range dirs {
		if err := os.MkdirAll(filepath.Join(tmp, name, "out"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(filepath.Join(tmp, tmpPrefix+"4444444"), old, old)
	st, _ := storage.NewLocal(storage.LocalParams{Dir: t.TempDir()})
	NewHandler(HandlerParams{Store: st, TmpDir: tmp}).CleanTmp()
	for name, kept := range dirs {
		_, err := os.Stat(filepath.Join(tmp, name))
		if kept != (err == nil) {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
}
