//go:build unix && !linux

package transcode

import (
	"os/exec"
	"syscall"
)

// setChildAttrs runs a tool in its own process group, which a cancelled job kills as a whole.
// Only Linux can also have the kernel kill it when the parent dies (Pdeathsig); elsewhere a
// SIGKILLed worker leaves its running ffmpeg until that job's input ends.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
