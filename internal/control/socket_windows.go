//go:build windows

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// ErrRunning means another daemon of this user holds the pipe.
var ErrRunning = errors.New("cardbridge is already running for this user")

// Path is the named pipe, one per user.
func Path() string {
	u := os.Getenv("USERNAME")
	if u == "" {
		u = "user"
	}
	return `\\.\pipe\cardbridge-` + u
}

// Dir is where cardbridge keeps runtime files on Windows.
func Dir() string { return os.TempDir() }

// Dial connects to the running daemon.
func Dial() (net.Conn, error) {
	timeout := time.Second
	c, err := winio.DialPipe(Path(), &timeout)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	return c, nil
}

// Listen creates the pipe with an ACL that lets only this user in. A pipe
// name held by a running daemon makes it fail.
func Listen() (net.Listener, error) {
	tok := windows.GetCurrentProcessToken()
	user, err := tok.GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	sddl := "D:P(A;;GA;;;" + user.User.Sid.String() + ")"
	ln, err := winio.ListenPipe(Path(), &winio.PipeConfig{SecurityDescriptor: sddl, MessageMode: false, InputBufferSize: 64 << 10, OutputBufferSize: 64 << 10})
	if err != nil {
		if _, derr := Dial(); derr == nil {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	return ln, nil
}
