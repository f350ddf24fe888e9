package control

import (
	"bufio"
	"net"
	"os"
	"testing"
)

type winPinger struct{}

func (winPinger) Ping() Reply                             { return Reply{OK: true, PID: os.Getpid()} }
func (winPinger) Open(string) error                       { return nil }
func (winPinger) Session(string, net.Conn, *bufio.Reader) {}

// A second daemon finds the first; a client checks the pipe server is
// this user's before it talks.
func TestPipeByOwner(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go Serve(ln, winPinger{})
	if r, err := Ping(); err != nil || r.PID != os.Getpid() {
		t.Fatalf("ping: %+v %v", r, err)
	}
	if _, err := Listen(); err != ErrRunning {
		t.Fatalf("second daemon: %v", err)
	}
}
