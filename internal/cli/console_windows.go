//go:build windows

package cli

import (
	"os"

	"golang.org/x/sys/windows"
)

// terminalColours is off: a Windows console shows ANSI codes as raw text
// unless the program turns on virtual terminal processing.
const terminalColours = false

// cardbridge.exe is a GUI program (-H windowsgui), so that starting it at
// login opens no console window. Windows then gives it no console, and a
// command typed in one (status, version, install) would print nothing; so
// when the standard handles lead nowhere, it attaches to the console of
// the program that started it, if there is one. Handles that were
// redirected (a pipe, a file, a browser's native messaging) are kept.
func init() {
	if handleUsable(windows.STD_OUTPUT_HANDLE) && handleUsable(windows.STD_ERROR_HANDLE) {
		return
	}
	if r, _, _ := procAttachConsole.Call(uintptr(attachParentProcess)); r == 0 {
		return // started from Explorer or at login: no console to print to
	}
	for _, s := range []struct {
		std uint32
		f   **os.File
	}{{windows.STD_OUTPUT_HANDLE, &os.Stdout}, {windows.STD_ERROR_HANDLE, &os.Stderr}} {
		if handleUsable(s.std) {
			continue
		}
		if f, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0); err == nil {
			*s.f = f
		}
	}
}

var procAttachConsole = windows.NewLazySystemDLL("kernel32.dll").NewProc("AttachConsole")

// attachParentProcess is ATTACH_PARENT_PROCESS, (DWORD)-1.
const attachParentProcess = ^uint32(0)

// handleUsable reports a standard handle that leads to a file, pipe or
// console.
func handleUsable(std uint32) bool {
	h, err := windows.GetStdHandle(std)
	if err != nil || h == 0 || h == windows.InvalidHandle {
		return false
	}
	t, err := windows.GetFileType(h)
	return err == nil && t != windows.FILE_TYPE_UNKNOWN
}

// stderrUsable reports whether logs written to stderr reach anyone.
func stderrUsable() bool { return handleUsable(windows.STD_ERROR_HANDLE) }
