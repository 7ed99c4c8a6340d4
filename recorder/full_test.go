package recorder

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/sfu"
)

// fullEnv names the small filesystem of TestDiskFull's child (the test re-runs itself inside a
// private mount namespace with a tmpfs there).
const fullEnv = "RELAYCAST_TEST_DISKFULL_DIR"

// TestDiskFull: the data disk (a real 16 MiB tmpfs, in a private mount namespace) fills up 3 s
// into a 12 s broadcast and has room again at 7 s. The recorder pauses (one Paused hook, no
// failure), keeps every chunk closed before, drops only the one being written, and goes on when
// there is room: the chunks after the pause are written and decode, their indices follow on, and
// the recording ends normally with a gap in its timeline.
func TestDiskFull(t *testing.T) {
	dir := os.Getenv(fullEnv)
	if dir == "" {
		runInSmallDisk(t)
		return
	}
	samples := needMedia(t)
	var h hookLog
	var paused []error
	resumed := 0
	clk := &clock{now: time.Now()}
	hooks := h.hooks()
	hooks.Paused = func(_ Manifest, err error) { paused = append(paused, err) }
	hooks.Resumed = func(Manifest) { resumed++ }
	r, err := New(Params{Dir: filepath.Join(dir, "rec"), ChunkDuration: 2 * time.Second, Hooks: hooks, Now: clk.Now, ResumeFree: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	room := &fakeRoom{name: "shop", tracks: []sfu.TrackInfo{videoInfo, audioInfo}}
	s := r.Attach(room)
	ballast := filepath.Join(dir, "ballast")
	var closedBefore int
	feed(t, s, clk, samples, feedOpts{
		hookAt: 3 * time.Second, hook: func() { // fill the disk
			closedBefore = len(h.chunks)
			f, err := os.Create(ballast)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			for {
				if _, err := f.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("filling the disk: %v", err)
					}
					break
				}
			}
			_ = f.Close()
		},
		hook2At: 7 * time.Second, hook2: func() { // room again
			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
		},
	})
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if len(paused) != 1 || !errors.Is(paused[0], syscall.ENOSPC) || resumed != 1 || r.Pauses() != 1 {
		t.Fatalf("paused %v, resumed %d, pauses %d; want one pause for ENOSPC and one resume", paused, resumed, r.Pauses())
	}
	if len(h.failed) != 0 || r.Failures() != 0 {
		t.Fatalf("the recording failed: %v", h.failed)
	}
	if len(h.ended) != 1 {
		t.Fatalf("ended %d times, want 1", len(h.ended))
	}
	m := h.ended[0]
	chunks := append([]ChunkInfo(nil), h.chunks...)
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].Index < chunks[j].Index })
	if closedBefore == 0 || len(chunks) <= closedBefore || m.Chunks != len(chunks) {
		t.Fatalf("chunks: %d closed before the disk filled, %d in all, manifest %d", closedBefore, len(chunks), m.Chunks)
	}
	gap := false
	for i, c := range chunks {
		if c.Index != i {
			t.Fatalf("chunk indices %v: not contiguous", chunks)
		}
		if i > 0 && c.Start-(chunks[i-1].Start+chunks[i-1].Duration) > 1 {
			gap = true
			t.Logf("gap while the disk was full: %.1f s → %.1f s", chunks[i-1].Start+chunks[i-1].Duration, c.Start)
		}
		for _, f := range []*TrackFile{c.Video, c.Audio} {
			if f == nil {
				continue
			}
			if _, d := probeDur(t, f.Path); d <= 0 {
				t.Errorf("chunk %d %s does not decode", c.Index, filepath.Base(f.Path))
			}
		}
	}
	if !gap {
		t.Error("no gap in the timeline for the time the disk was full")
	}
	if last := chunks[len(chunks)-1]; last.Start < 7 {
		t.Errorf("the last chunk starts at %.1f s: nothing was written after the disk had room at 7 s", last.Start)
	}
}

// runInSmallDisk re-runs TestDiskFull in a private mount namespace where a 16 MiB tmpfs is
// mounted on a temporary directory (root only; CI runs as root).
func runInSmallDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: this test needs it to mount a small filesystem")
		}
		t.Skip("needs root (a tmpfs in a private mount namespace)")
	}
	needMedia(t) // ffmpeg present
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux) not found: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=16m relaycast-full "$0" && exec "$1" -test.run '^TestDiskFull$' -test.v -test.count=1`, dir, os.Args[0])
	cmd.Env = append(os.Environ(), fullEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("TestDiskFull in a 16 MiB tmpfs: %v", err)
	}
}
