//go:build unix

package pin

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup leaves pinentry in cardbridge's process group: a terminal
// pinentry (pinentry-curses) must be in the terminal's foreground group to
// read keys, or the kernel stops it.
func ownProcessGroup(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGKILL)
	}
}
