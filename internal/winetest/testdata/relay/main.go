// Command relay forwards TCP connections from one loopback port to another.
// The Wine tests run it under Wine in front of the daemon: cardbridge on
// Windows accepts WebSocket connections only from processes of its own
// user, and a Linux process has no Windows owner Wine could report.
//
//	relay LISTEN-PORT TARGET-PORT
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: relay LISTEN-PORT TARGET-PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			t, err := net.Dial("tcp", "127.0.0.1:"+os.Args[2])
			if err != nil {
				return
			}
			defer t.Close()
			go io.Copy(t, c)
			io.Copy(c, t)
		}()
	}
}
