//go:build unix

package control

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

type pinger struct{}

func (pinger) Ping() Reply                             { return Reply{OK: true, PID: os.Getpid()} }
func (pinger) Open(string) error                       { return nil }
func (pinger) Session(string, net.Conn, *bufio.Reader) {}

// privateTemp makes the temp dir the fallback's parent, with no runtime
// dir, as on a system without a user session.
func privateTemp(t *testing.T) string {
	tmp := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", tmp)
	return tmp
}

func serveHere(t *testing.T) {
	t.Helper()
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Serve(ln, pinger{})
	if r, err := Ping(); err != nil || !r.OK {
		t.Fatalf("ping: %+v %v", r, err)
	}
}

func TestFallbackDirTakenByAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make a directory of another user")
	}
	tmp := privateTemp(t)
	base := filepath.Join(tmp, "cardbridge-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(base, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chown(base, 65534, 65534)
	// And a link to a directory of ours, for the second name.
	mine := t.TempDir()
	os.Symlink(mine, base+"-1")
	serveHere(t)
	if want := base + "-2"; Dir() != want {
		t.Fatalf("socket dir %s, want %s", Dir(), want)
	}
	if _, err := os.Stat(filepath.Join(base, "control.sock")); err == nil {
		t.Fatal("a socket in the other user's directory")
	}
}

func TestFallbackDirOfOursWithLooseMode(t *testing.T) {
	tmp := privateTemp(t)
	base := filepath.Join(tmp, "cardbridge-"+strconv.Itoa(os.Getuid()))
	os.Mkdir(base, 0o755)
	os.Chmod(base, 0o755)
	serveHere(t)
	fi, _ := os.Stat(base)
	if Dir() != base || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir %s mode %o", Dir(), fi.Mode().Perm())
	}
}

// A client never dials into a directory another user could have planted.
func TestDialRefusesForeignDir(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make a directory of another user")
	}
	tmp := privateTemp(t)
	base := filepath.Join(tmp, "cardbridge-"+strconv.Itoa(os.Getuid()))
	os.Mkdir(base, 0o700)
	ln, err := net.Listen("unix", filepath.Join(base, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chown(base, 65534, 65534)
	if c, err := Dial(); err == nil {
		c.Close()
		t.Fatal("dialled a socket in another user's directory")
	}
}

// flakyListener fails its first accepts as a process out of descriptors
// does.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServeSurvivesAcceptErrors(t *testing.T) {
	privateTemp(t)
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go Serve(&flakyListener{Listener: ln, fails: 5}, pinger{})
	if _, err := Ping(); err != nil {
		t.Fatal(err)
	}
}
