package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"unsafe"

	"github.com/cardbridge/cardbridge/internal/control"
	"golang.org/x/sys/windows"
)

var procGetExtendedTcpTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetExtendedTcpTable")

// checkPeer refuses a loopback connection whose client process runs as
// another user: the Origin header is the page's word, and any local
// account could forge it. The TCP table names the process owning each
// connection; the client's is the one whose local end is the
// connection's remote one.
func checkPeer(local, remote net.Addr) error {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := remote.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return errors.New("not a TCP connection")
	}
	pid, err := tcpOwner(r, l)
	if err != nil {
		return err
	}
	return control.ProcessIsOurs(pid)
}

// Sizes and offsets of MIB_TCPROW_OWNER_PID and MIB_TCP6ROW_OWNER_PID.
const (
	afInet, afInet6         = 2, 23
	tcpTableOwnerPIDConns   = 4
	row4Size, row6Size      = 24, 56
	errorInsufficientBuffer = 122
)

// tcpOwner finds the process owning the TCP connection from local to
// remote.
func tcpOwner(local, remote *net.TCPAddr) (uint32, error) {
	af, rowSize := uint32(afInet), row4Size
	lip, rip := local.IP.To4(), remote.IP.To4()
	if lip == nil {
		af, rowSize, lip, rip = afInet6, row6Size, local.IP.To16(), remote.IP.To16()
	}
	var size uint32
	var buf []byte
	for range 4 {
		var p uintptr
		if len(buf) > 0 {
			p = uintptr(unsafe.Pointer(&buf[0]))
		}
		rc, _, _ := procGetExtendedTcpTable.Call(p, uintptr(unsafe.Pointer(&size)), 0, uintptr(af), tcpTableOwnerPIDConns, 0)
		if rc == 0 && len(buf) > 0 {
			break
		}
		if rc != 0 && rc != errorInsufficientBuffer {
			return 0, fmt.Errorf("GetExtendedTcpTable: %w", windows.Errno(rc))
		}
		buf = make([]byte, size)
	}
	if len(buf) < 4 {
		return 0, errors.New("no TCP table")
	}
	n := int(binary.LittleEndian.Uint32(buf))
	for i := range n {
		off := 4 + i*rowSize
		if off+rowSize > len(buf) {
			break
		}
		row := buf[off : off+rowSize]
		var la, ra []byte
		var lp, rp uint16
		var pid uint32
		if af == afInet {
			la, lp, ra, rp = row[4:8], binary.BigEndian.Uint16(row[8:10]), row[12:16], binary.BigEndian.Uint16(row[16:18])
			pid = binary.LittleEndian.Uint32(row[20:24])
		} else {
			la, lp, ra, rp = row[0:16], binary.BigEndian.Uint16(row[20:22]), row[24:40], binary.BigEndian.Uint16(row[44:46])
			pid = binary.LittleEndian.Uint32(row[52:56])
		}
		if net.IP(la).Equal(lip) && int(lp) == local.Port && net.IP(ra).Equal(rip) && int(rp) == remote.Port {
			return pid, nil
		}
	}
	return 0, errors.New("the client's connection is not in the TCP table")
}
