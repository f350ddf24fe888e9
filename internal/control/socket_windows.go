//go:build windows

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// ErrRunning means another daemon of this user holds the pipe.
var ErrRunning = errors.New("cardbridge is already running for this user")

// fallbackPipes is how many pipe names the daemon tries when other
// accounts have taken the first ones: pipe names are global, so any user
// can create one first.
const fallbackPipes = 8

// userSID is this process's user.
func userSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	return u.User.Sid, nil
}

// candidates are the pipe names, named by the user's SID (a user name can
// be reused, or shared by a local and a domain account).
func candidates() []string {
	id := "user"
	if sid, err := userSID(); err == nil {
		id = sid.String()
	}
	base := `\\.\pipe\cardbridge-` + id
	out := []string{base}
	for i := 1; i < fallbackPipes; i++ {
		out = append(out, base+"-"+strconv.Itoa(i))
	}
	return out
}

// Path is the first pipe name; see Dial for the others.
func Path() string { return candidates()[0] }

// Dir is where cardbridge keeps runtime files on Windows.
func Dir() string { return os.TempDir() }

// Dial connects to the running daemon: the first pipe whose server runs
// as this user. A pipe of another user is passed over, never talked to.
func Dial() (net.Conn, error) {
	var errs []error
	for _, name := range candidates() {
		c, err := dialOwn(name)
		if errors.Is(err, fs.ErrNotExist) {
			break // the daemon would have taken this free name
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrNotRunning, errors.Join(errs...))
}

// dialOwn connects to name and checks that its server runs as this user.
func dialOwn(name string) (net.Conn, error) {
	timeout := time.Second
	c, err := winio.DialPipe(name, &timeout)
	if err != nil {
		return nil, err
	}
	if err := checkServer(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// checkServer makes sure the process at the other end of a pipe runs as
// this user.
func checkServer(c net.Conn) error {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return errors.New("not a pipe")
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return fmt.Errorf("pipe server: %w", err)
	}
	return ProcessIsOurs(pid)
}

// ProcessIsOurs reports whether process pid runs as this user. A process
// that cannot be opened is not ours.
func ProcessIsOurs(pid uint32) error {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	me, err := userSID()
	if err != nil {
		return err
	}
	if !windows.EqualSid(u.User.Sid, me) {
		return fmt.Errorf("process %d runs as another user", pid)
	}
	return nil
}

// Listen creates the first free pipe name with an ACL that lets only this
// user in. A name held by this user's running daemon makes it fail; one
// another user took is passed over.
func Listen() (net.Listener, error) {
	me, err := userSID()
	if err != nil {
		return nil, err
	}
	sddl := "D:P(A;;GA;;;" + me.String() + ")"
	var errs []error
	for _, name := range candidates() {
		ln, err := winio.ListenPipe(name, &winio.PipeConfig{SecurityDescriptor: sddl, MessageMode: false, InputBufferSize: 64 << 10, OutputBufferSize: 64 << 10})
		if err == nil {
			return ln, nil
		}
		if c, derr := dialOwn(name); derr == nil {
			c.Close()
			return nil, ErrRunning
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return nil, fmt.Errorf("control pipe: %w", errors.Join(errs...))
}
