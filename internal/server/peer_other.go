//go:build !linux && !windows

package server

import "net"

// checkPeer accepts every loopback connection where the owner of the
// client's socket is not looked up (see peer_linux.go and peer_windows.go).
func checkPeer(local, remote net.Addr) error { return nil }
