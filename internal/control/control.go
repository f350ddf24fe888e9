// Package control is the daemon's private door: a local socket that only
// the user who runs cardbridge can open (a Unix socket with mode 0600 in a
// 0700 directory, or a named pipe with a user-only ACL on Windows). Through
// it `cardbridge open` hands over cardbridge:// links and the native
// messaging host relays a browser extension's requests. Holding the socket
// is also what makes the daemon the only one for this user.
package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Hello is the first line a client sends.
type Hello struct {
	// Type is "ping", "open" (URL set) or "session" (Origin set): after
	// a session hello the connection carries JSON-RPC frames, one per line,
	// for the page at Origin, as the browser attested it.
	Type   string `json:"type"`
	URL    string `json:"url,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// Reply answers ping and open.
type Reply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
	PID     int    `json:"pid,omitempty"`
	// Addr is where the daemon's WebSocket listens (host:port).
	Addr string `json:"addr,omitempty"`
}

// MaxLine bounds one line on the socket: a JSON-RPC frame of
// protocol.MaxFrame plus room for its envelope.
const MaxLine = 1<<20 + 4096

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("cardbridge is not running")

// Handler serves connections on the socket.
type Handler interface {
	Ping() Reply
	Open(url string) error
	// Session serves JSON-RPC frames on conn for origin until it closes.
	Session(origin string, conn net.Conn, r *bufio.Reader)
}

// Serve accepts connections until ln is closed. Any other accept error
// (EMFILE when descriptors ran out, ECONNABORTED) is waited out with a
// growing pause, as net/http does: links and the extension must work
// again once the load is gone.
func Serve(ln net.Listener, h Handler) error {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		go serve(c, h)
	}
}

func serve(c net.Conn, h Handler) {
	defer c.Close()
	if err := checkPeer(c); err != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReaderSize(c, 64<<10)
	line, err := readLine(r)
	if err != nil {
		return
	}
	var hello Hello
	if err := json.Unmarshal(line, &hello); err != nil {
		writeJSON(c, Reply{Error: "bad hello"})
		return
	}
	c.SetReadDeadline(time.Time{})
	switch hello.Type {
	case "ping":
		writeJSON(c, h.Ping())
	case "open":
		if err := h.Open(hello.URL); err != nil {
			writeJSON(c, Reply{Error: err.Error()})
			return
		}
		writeJSON(c, Reply{OK: true})
	case "session":
		h.Session(hello.Origin, c, r)
	default:
		writeJSON(c, Reply{Error: "unknown hello type"})
	}
}

// readLine reads one newline-terminated line of at most MaxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
		return line[:len(line)-1], nil
	}
}

// ReadLine reads one frame of a session.
func ReadLine(r *bufio.Reader) ([]byte, error) { return readLine(r) }

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteLine writes one frame of a session.
func WriteLine(w io.Writer, b []byte) error {
	_, err := w.Write(append(b, '\n'))
	return err
}

// call sends a hello and reads the reply.
func call(h Hello) (Reply, error) {
	c, err := Dial()
	if err != nil {
		return Reply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeJSON(c, h); err != nil {
		return Reply{}, err
	}
	line, err := readLine(bufio.NewReader(c))
	if err != nil {
		return Reply{}, fmt.Errorf("read reply: %w", err)
	}
	var r Reply
	if err := json.Unmarshal(line, &r); err != nil {
		return Reply{}, fmt.Errorf("read reply: %w", err)
	}
	return r, nil
}

// Ping asks the running daemon who it is.
func Ping() (Reply, error) { return call(Hello{Type: "ping"}) }

// Open hands a cardbridge:// link to the running daemon.
func Open(url string) error {
	r, err := call(Hello{Type: "open", URL: url})
	if err != nil {
		return err
	}
	if !r.OK {
		return errors.New(r.Error)
	}
	return nil
}

// Session opens a JSON-RPC session for origin.
func Session(origin string) (net.Conn, error) {
	c, err := Dial()
	if err != nil {
		return nil, err
	}
	if err := writeJSON(c, Hello{Type: "session", Origin: origin}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
