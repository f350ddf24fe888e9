//go:build !linux

package vcard

import "net"

// quickAck: TCP_QUICKACK is Linux-only; elsewhere delayed ACKs just make the
// card slower.
func quickAck(net.Conn) {}
