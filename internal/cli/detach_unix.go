//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// detach puts the daemon in a session of its own, so that it outlives the
// browser that launched the link.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
