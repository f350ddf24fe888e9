package cli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Native messaging frames: a 4-byte length in native byte order (every
// platform cardbridge ships for is little-endian), then JSON. Chrome caps
// host-to-browser messages at 1 MiB; we cap both ways.
const maxNativeMessage = 1 << 20

// nativeHello is the extension's first message on a port: the page origin
// as the browser told the extension (sender.origin), never page data.
type nativeHello struct {
	Cardbridge string `json:"cardbridge"` // "hello"
	Origin     string `json:"origin"`
	Version    int    `json:"version"`
}

func readNative(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	if n == 0 || n > maxNativeMessage {
		return nil, fmt.Errorf("native message of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeNative(w io.Writer, b []byte) error {
	if len(b) > maxNativeMessage {
		b, _ = json.Marshal(protocol.NewResponse(nil, nil, protocol.Errorf(protocol.CodeInternal, "answer too large for the browser")))
	}
	buf := make([]byte, 4+len(b))
	binary.LittleEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	return err
}

// isNativeHostInvocation recognises how browsers start a native host:
// Chromium passes the calling extension's origin, Firefox the manifest
// path and the extension id.
func isNativeHostInvocation(args []string) bool {
	if len(args) == 0 {
		return false
	}
	return strings.HasPrefix(args[0], "chrome-extension://") || (len(args) >= 2 && strings.HasSuffix(args[0], ".json"))
}

// runNativeHost relays between the browser extension (stdin/stdout) and
// the daemon's control socket, starting the daemon if needed.
func runNativeHost(args []string, stdout, stderr io.Writer) error {
	return nativeHost(os.Stdin, stdout, stderr, args)
}

func nativeHost(in io.Reader, out io.Writer, stderr io.Writer, args []string) error {
	caller := strings.Join(args, " ")
	first, err := readNative(in)
	if err != nil {
		return fmt.Errorf("native host (%s): %w", caller, err)
	}
	var hello nativeHello
	if err := json.Unmarshal(first, &hello); err != nil || hello.Cardbridge != "hello" || hello.Origin == "" {
		return fmt.Errorf("native host: the first message must be a hello with the page origin")
	}
	conn, err := control.Session(hello.Origin)
	if errors.Is(err, control.ErrNotRunning) {
		if err = spawnDaemon(); err == nil {
			conn, err = control.Session(hello.Origin)
		}
	}
	if err != nil {
		b, _ := json.Marshal(map[string]any{"cardbridge": "error", "code": 2003, "reason": "cardbridge could not be started: " + err.Error()})
		writeNative(out, b)
		return err
	}
	defer conn.Close()
	ack, _ := json.Marshal(map[string]any{"cardbridge": "hello", "version": version(), "protocol": protocol.Version})
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeNative(out, b)
	}
	if err := write(ack); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		relayFromDaemon(conn, write)
	}()
	for {
		msg, err := readNative(in)
		if err != nil {
			conn.Close()
			<-done
			return nil // the browser closed the port
		}
		// One native message is one request, whatever it holds. The
		// socket to the daemon carries a frame per line, and JSON allows
		// raw newlines between tokens, so the message is compacted first
		// (which takes them out); one that is not a single JSON value is
		// answered here and never reaches the daemon.
		var line bytes.Buffer
		if err := json.Compact(&line, msg); err != nil {
			b, _ := json.Marshal(protocol.NewResponse(nil, nil, protocol.Errorf(protocol.CodeParseError, "the message is not one JSON value")))
			if err := write(b); err != nil {
				return err
			}
			continue
		}
		if err := control.WriteLine(conn, line.Bytes()); err != nil {
			return err
		}
	}
}

func relayFromDaemon(conn net.Conn, write func([]byte) error) {
	r := bufio.NewReaderSize(conn, 64<<10)
	for {
		line, err := control.ReadLine(r)
		if err != nil {
			return
		}
		if err := write(line); err != nil {
			return
		}
	}
}
