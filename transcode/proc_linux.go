//go:build linux

package transcode

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes a tool the handler starts die with the process that started it: the kernel
// sends it SIGKILL when its parent dies (even by SIGKILL, which runs no cleanup), and it runs in
// its own process group, which a cancelled job kills as a whole.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
