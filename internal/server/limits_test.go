package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tryDial opens a WebSocket as origin and returns the HTTP status of a
// refusal.
func (d *testDaemon) tryDial(origin string) (*websocket.Conn, int) {
	ws, resp, err := websocket.DefaultDialer.Dial(d.url(), http.Header{"Origin": {origin}})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		d.t.Fatalf("dial: %v", err)
	}
	d.t.Cleanup(func() { ws.Close() })
	return ws, 0
}

func TestConnectionsPerOriginCapped(t *testing.T) {
	d := startDaemon(t, daemonOpts{quiet: true})
	var open []*websocket.Conn
	for i := range DefaultLimits.MaxConnsPerOrigin {
		ws, code := d.tryDial(portal)
		if ws == nil {
			t.Fatalf("connection %d refused (%d)", i+1, code)
		}
		open = append(open, ws)
	}
	if _, code := d.tryDial(portal); code != http.StatusServiceUnavailable {
		t.Fatalf("connection %d: status %d, want 503", len(open)+1, code)
	}
	if ws, code := d.tryDial("https://other.example"); ws == nil {
		t.Fatalf("another origin refused (%d)", code)
	}
	// A page that leaves frees its slot.
	open[0].Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ws, _ := d.tryDial(portal); ws != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot of a closed socket was not given back")
		}
	}
}

func TestConnectionsCappedInAll(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns, lim.MaxConnsPerOrigin = 5, 3
	d := startDaemon(t, daemonOpts{quiet: true, limits: &lim})
	for i, want := range []struct {
		origin string
		ok     bool
	}{{"https://a.example", true}, {"https://a.example", true}, {"https://a.example", true}, {"https://a.example", false},
		{"https://b.example", true}, {"https://b.example", true}, {"https://c.example", false}} {
		if ws, code := d.tryDial(want.origin); (ws != nil) != want.ok || (!want.ok && code != http.StatusServiceUnavailable) {
			t.Fatalf("connection %d from %s: open %v (%d), want %v", i, want.origin, ws != nil, code, want.ok)
		}
	}
}

// rawFrame is the start of a masked text frame of n bytes.
func rawFrame(n int) []byte { return []byte{0x81, 0x80 | byte(n), 1, 2, 3, 4} }

// cutAfter writes to a fresh socket with send and reports how long the
// daemon took to close it.
func cutAfter(t *testing.T, d *testDaemon, send func(net.Conn)) time.Duration {
	t.Helper()
	ws := d.dial(portal).ws
	conn := ws.NetConn()
	start := time.Now()
	go send(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, conn) // pings, then the end
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the daemon kept the socket open")
	}
	return time.Since(start)
}

func TestPartialFramesCut(t *testing.T) {
	lim := DefaultLimits
	lim.FrameTimeout, lim.PongWait, lim.PingInterval = time.Second, 3*time.Second, 500*time.Millisecond
	d := startDaemon(t, daemonOpts{limits: &lim})
	// Half a frame, then nothing.
	if took := cutAfter(t, d, func(c net.Conn) { c.Write(append(rawFrame(100), make([]byte, 10)...)) }); took < 900*time.Millisecond || took > 2500*time.Millisecond {
		t.Fatalf("a stalled frame was cut after %s, want about %s", took, lim.FrameTimeout)
	}
	// A frame trickled a byte at a time: the bytes do not buy time.
	trickle := func(c net.Conn) {
		c.Write(rawFrame(100))
		for range 100 {
			time.Sleep(200 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}
	if took := cutAfter(t, d, trickle); took > 2500*time.Millisecond {
		t.Fatalf("a trickled frame was cut after %s, want about %s", took, lim.FrameTimeout)
	}
	// One byte of a header: the page had PongWait to go on, and pongs
	// it does not send.
	if took := cutAfter(t, d, func(c net.Conn) { c.Write([]byte{0x81}) }); took < 2500*time.Millisecond || took > 4500*time.Millisecond {
		t.Fatalf("a stalled header was cut after %s, want about %s", took, lim.PongWait)
	}
	// A page that talks slowly but in whole frames stays.
	c := d.dial(portal)
	for range 8 {
		c.mustCall("system.info", nil, nil)
		time.Sleep(500 * time.Millisecond)
	}
}

func TestIdleSocketsClosedSubscribedKept(t *testing.T) {
	lim := DefaultLimits
	lim.IdleTimeout, lim.PingInterval = time.Second, 200*time.Millisecond
	d := startDaemon(t, daemonOpts{limits: &lim})
	// listen reads in the background, as a browser does: it answers
	// pings, counts them, and notes when the daemon closes.
	listen := func(ws *websocket.Conn) (pings *atomic.Int32, closed chan struct{}) {
		pings, closed = new(atomic.Int32), make(chan struct{})
		ping := ws.PingHandler()
		ws.SetPingHandler(func(s string) error { pings.Add(1); return ping(s) })
		go func() {
			defer close(closed)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		return pings, closed
	}
	idle := d.dial(portal)
	sub := d.dial(portal)
	sub.mustCall("events.subscribe", nil, nil)
	_, idleClosed := listen(idle.ws)
	subPings, subClosed := listen(sub.ws)
	select {
	case <-idleClosed:
	case <-time.After(3 * time.Second):
		t.Fatal("an idle socket was kept")
	}
	select {
	case <-subClosed:
		t.Fatal("a subscribed socket was closed")
	case <-time.After(2 * time.Second):
	}
	if subPings.Load() < 3 {
		t.Fatalf("%d pings in 3 s", subPings.Load())
	}
}

// TestBytesInFlightBounded holds the whole byte budget with two frames
// that never finish: a third page's request waits until the frame timeout
// cuts them, then goes through.
func TestBytesInFlightBounded(t *testing.T) {
	lim := DefaultLimits
	lim.MaxBytesInFlight, lim.FrameTimeout = 2<<20, 2*time.Second
	d := startDaemon(t, daemonOpts{limits: &lim})
	// A masked text frame announcing 1 MiB - 1, with 900 KB of it sent.
	header := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f, 0xff, 0xff, 1, 2, 3, 4}
	for range 2 {
		c := d.dial(portal).ws.NetConn()
		go func() {
			c.Write(header)
			c.Write(make([]byte, 900<<10))
		}()
	}
	time.Sleep(300 * time.Millisecond) // both frames are being read
	c := d.dial(portal)
	start := time.Now()
	c.mustCall("system.info", nil, nil)
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Fatalf("the request went through after %s; want it to wait for the frame timeout (%s)", took, lim.FrameTimeout)
	}
}
