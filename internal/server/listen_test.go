package server

import (
	"net"
	"strconv"
	"testing"
)

// TestListenFallback takes a port, then asks for it with one fallback:
// the next port must be tried. It runs on Windows too (task test:windows),
// where a taken port is WSAEADDRINUSE rather than EADDRINUSE.
func TestListenFallback(t *testing.T) {
	// Find two free neighbouring ports: take one, then its successor.
	var taken net.Listener
	for i := 0; i < 20 && taken == nil; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		next, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		if err != nil {
			ln.Close()
			continue
		}
		next.Close()
		taken = ln
	}
	if taken == nil {
		t.Fatal("no two free neighbouring ports")
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port

	ln, err := listenTries("127.0.0.1", port, 1)
	if err == nil {
		ln.Close()
		t.Fatalf("port %d is taken, yet listening on it worked", port)
	}
	if !addrInUse(err) {
		t.Fatalf("a taken port gives %v (%T), not recognised as in use", err, err)
	}
	ln, err = listenTries("127.0.0.1", port, 2)
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	defer ln.Close()
	if got := ln.Addr().(*net.TCPAddr).Port; got != port+1 {
		t.Fatalf("fallback listened on %d, want %d", got, port+1)
	}
}
