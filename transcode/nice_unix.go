//go:build unix

package transcode

import "syscall"

// lowerPriority renices ffmpeg so that live media (and the recorder writing it) keep the CPU
// when a worker runs on the same machine as the server.
func lowerPriority(pid int) { _ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, 10) }
