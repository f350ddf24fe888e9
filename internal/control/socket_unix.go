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

// fallbackDirs is how many private directories under the temp dir the
// daemon tries when another user has taken the names before it.
const fallbackDirs = 8

// candidates are the directories the socket may live in, in the order the
// daemon tries them: $XDG_RUNTIME_DIR/cardbridge, which only this user can
// enter, or else private directories under the shared temp dir, where
// another user may have made the first names.
func candidates() []string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return []string{filepath.Join(d, "cardbridge")}
	}
	base := filepath.Join(os.TempDir(), "cardbridge-"+strconv.Itoa(os.Getuid()))
	out := []string{base}
	for i := 1; i < fallbackDirs; i++ {
		out = append(out, base+"-"+strconv.Itoa(i))
	}
	return out
}

// ownDir reports whether dir is a directory (not a link) of this user
// that nobody else can enter.
func ownDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ok || st.Uid != uint32(os.Getuid()):
		return fmt.Errorf("%s belongs to another user", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s is open to other users (mode %o)", dir, fi.Mode().Perm())
	}
	return nil
}

// Dir is the directory of the running daemon's socket: the first
// candidate that is this user's own. Directories of other users are
// passed over, never trusted.
func Dir() string {
	c := candidates()
	for _, d := range c {
		err := ownDir(d)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return d // a daemon would have taken the first free name
		}
	}
	return c[0]
}

// Path is the socket's path.
func Path() string { return filepath.Join(Dir(), "control.sock") }

// Dial connects to the running daemon.
func Dial() (net.Conn, error) {
	dir := Dir()
	if err := ownDir(dir); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	c, err := net.Dial("unix", filepath.Join(dir, "control.sock"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	return c, nil
}

// ErrRunning means another daemon of this user holds the socket.
var ErrRunning = errors.New("cardbridge is already running for this user")

// takeDir returns the first candidate directory this user has or can make
// private; a name another user took is passed over, so that nobody can
// stop the daemon by creating it first.
func takeDir() (string, error) {
	var errs []error
	for _, dir := range candidates() {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		fi, err := os.Lstat(dir)
		if err == nil && fi.IsDir() && fi.Sys().(*syscall.Stat_t).Uid == uint32(os.Getuid()) && fi.Mode().Perm()&0o077 != 0 {
			os.Chmod(dir, 0o700) // ours, from a looser umask
		}
		if err := ownDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		return dir, nil
	}
	return "", fmt.Errorf("control socket dir: %w", errors.Join(errs...))
}

// Listen takes the socket, unless a daemon already answers on it. A lock
// file decides races between daemons starting at the same moment.
func Listen() (net.Listener, error) {
	dir, err := takeDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "control.sock")
	lock, err := os.OpenFile(filepath.Join(dir, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("control socket lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, ErrRunning
	}
	// We hold the lock, so a socket file left behind is stale.
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
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
