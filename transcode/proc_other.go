//go:build !unix

package transcode

import (
	"os"
	"os/exec"
)

// setChildAttrs does nothing here: the tool is killed when its job is cancelled (exec's default).
func setChildAttrs(*exec.Cmd) {}

// alive reports whether a process with this pid exists (best effort).
func alive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}
