//go:build linux

package transcode

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/storage"
)

const helperEnv = "RELAYCAST_TRANSCODE_HELPER"

// TestHelperFFmpegParent is not a test: TestChildDiesWithParent runs the test binary again with
// only it selected, as the parent of an ffmpeg run the handler starts (as a job would), and
// SIGKILLs it.
func TestHelperFFmpegParent(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestChildDiesWithParent")
	}
	st, _ := storage.NewLocal(storage.LocalParams{Dir: t.TempDir()})
	h := NewHandler(HandlerParams{Store: st, TmpDir: os.Getenv("RELAYCAST_TMP")})
	dir, err := h.scratch()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("scratch", dir)
	// An endless encode: the job of a long chunk.
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"}
	_ = h.runFFmpeg(context.Background(), args, ChunkPayload{RecordingID: "helper", Duration: 3600})
}

// children are the pids whose parent is pid and whose command is comm.
func children(pid int, comm string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) > 1 && s[open+1:end] == comm && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// running reports whether pid is a live process (a zombie waiting for its reaper is dead).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// TestChildDiesWithParent: SIGKILL of the process running a job (serve or worker) kills the
// job's ffmpeg too, within seconds; its scratch directory is under TmpDir, and the next start's
// sweep removes it (defect 9).
func TestChildDiesWithParent(t *testing.T) {
	needFFmpeg(t)
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFFmpegParent$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "RELAYCAST_TMP="+tmp)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "scratch ") {
		t.Fatalf("helper said %q", sc.Text())
	}
	scratch := strings.TrimPrefix(sc.Text(), "scratch ")
	go func() {
		for sc.Scan() {
		}
	}()
	var ff []int
	deadline := time.Now().Add(20 * time.Second)
	for len(ff) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the helper started no ffmpeg")
		}
		time.Sleep(50 * time.Millisecond)
		ff = children(cmd.Process.Pid, "ffmpeg")
	}
	time.Sleep(300 * time.Millisecond) // ffmpeg is encoding
	if !running(ff[0]) {
		t.Fatal("ffmpeg is not running")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for running(ff[0]) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(ff[0], syscall.SIGKILL)
			t.Fatalf("ffmpeg %d still running 5 s after its parent was killed", ff[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(scratch, tmp+string(filepath.Separator)) {
		t.Fatalf("scratch %s is not under TmpDir %s", scratch, tmp)
	}
	if _, err := os.Stat(scratch); err != nil {
		t.Fatalf("the killed job's scratch is not there to sweep: %v", err)
	}
	st, _ := storage.NewLocal(storage.LocalParams{Dir: t.TempDir()})
	NewHandler(HandlerParams{Store: st, TmpDir: tmp}).CleanTmp()
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Fatalf("scratch of the dead process left after the sweep: %v", err)
	}
}
