package vcard

import (
	"net"

	"golang.org/x/sys/unix"
)

// quickAck turns delayed ACKs off before a read: vpcd writes the length and
// the body of a message separately, and a delayed ACK would hold the body back
// ~40 ms on every APDU. Linux turns quick ACK mode off again by itself, so it
// is set before each read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
