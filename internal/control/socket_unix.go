//go:build unix

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Dir is where the socket lives: $XDG_RUNTIME_DIR/cardbridge, which only
// this user can enter, or a private directory under the temp dir.
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "cardbridge")
	}
	return filepath.Join(os.TempDir(), "cardbridge-"+strconv.Itoa(os.Getuid()))
}

// Path is the socket's path.
func Path() string { return filepath.Join(Dir(), "control.sock") }

// Dial connects to the running daemon.
func Dial() (net.Conn, error) {
	c, err := net.Dial("unix", Path())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	return c, nil
}

// ErrRunning means another daemon of this user holds the socket.
var ErrRunning = errors.New("cardbridge is already running for this user")

// Listen takes the socket, unless a daemon already answers on it. A lock
// file decides races between daemons starting at the same moment.
func Listen() (net.Listener, error) {
	dir := Dir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		return nil, fmt.Errorf("control socket dir %s must be a directory of this user with mode 0700", dir)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("control socket lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, ErrRunning
	}
	// We hold the lock, so a socket file left behind is stale.
	os.Remove(Path())
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", Path())
	syscall.Umask(old)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(Path(), 0o600); err != nil {
		ln.Close()
		lock.Close()
		return nil, err
	}
	// The lock lives as long as the listener.
	return &lockedListener{Listener: ln, lock: lock}, nil
}

type lockedListener struct {
	net.Listener
	lock *os.File
}

func (l *lockedListener) Close() error {
	err := l.Listener.Close()
	l.lock.Close()
	return err
}
