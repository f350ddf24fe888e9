package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// checkPeer refuses a loopback connection whose client socket belongs to
// another user: the Origin header is the page's word, and any local
// account could forge it. The kernel lists every TCP socket with its
// owner in /proc/net/tcp; the client's is the one whose local address is
// the connection's remote one.
func checkPeer(local, remote net.Addr) error {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := remote.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return errors.New("not a TCP connection")
	}
	uid, err := socketOwner(r, l)
	if err != nil {
		return err
	}
	if uid != os.Getuid() {
		return fmt.Errorf("the connection comes from uid %d", uid)
	}
	return nil
}

// socketOwner finds the uid owning the TCP socket bound to local and
// connected to remote.
func socketOwner(local, remote *net.TCPAddr) (int, error) {
	table := "/proc/net/tcp"
	if local.IP.To4() == nil {
		table = "/proc/net/tcp6"
	}
	want := procAddr(local) + " " + procAddr(remote)
	f, err := os.Open(table)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1]+" "+fields[2] != want {
			continue
		}
		return strconv.Atoi(fields[7])
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("the client's socket is not in " + table)
}

// procAddr writes an address as /proc/net/tcp does: the address in 32-bit
// words in host byte order, then the port, in hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		ip = a.IP.To16()
	}
	var b strings.Builder
	for i := 0; i+4 <= len(ip); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", a.Port)
	return b.String()
}
