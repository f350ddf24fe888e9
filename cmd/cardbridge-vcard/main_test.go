package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// TestRestart: stopping the command pulls the card, starting it again on
// the same directory puts the same card back, wrong-PIN counter included.
func TestRestart(t *testing.T) {
	if _, err := exec.LookPath("yubico-piv-tool"); err != nil {
		pcsctest.Missing(t, err)
	}
	p := pcsctest.Start(t, 1)
	dir := t.TempDir()
	piv := func(args ...string) string {
		cmd := exec.Command("yubico-piv-tool", args...)
		cmd.Env = p.Env()
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	session := func(check func()) {
		removals := p.Removals(0)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, p.Readers[0].Addr, dir, "piv", 0, false) }()
		// pcscd polls for cards every 400 ms.
		var out string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if out = piv("-a", "status"); strings.Contains(out, "Serial Number") {
				break
			}
		}
		if !strings.Contains(out, "Serial Number") {
			t.Fatalf("the card did not come up:\n%s\npcscd:\n%s", out, p.Log())
		}
		check()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// A card that takes another's place within one of pcscd's polls
		// (400 ms) goes unnoticed: wait until pcscd saw this one leave.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if p.Removals(0) > removals {
				return
			}
		}
		t.Fatalf("pcscd did not notice the card leave:\n%s", p.Log())
	}
	var serial string
	session(func() {
		out := piv("-a", "verify-pin", "-P", "000000")
		if !strings.Contains(out, "2 tries left") {
			t.Fatalf("wrong PIN:\n%s", out)
		}
		serial = piv("-a", "status")
		serial = serial[strings.Index(serial, "Serial Number"):]
		serial = serial[:strings.Index(serial, "\n")]
	})
	session(func() {
		out := piv("-a", "status")
		if !strings.Contains(out, serial) || !strings.Contains(out, "PIN tries left:\t2") {
			t.Fatalf("another card came back (want %q, 2 PIN tries):\n%s", serial, out)
		}
	})
	if err := run(context.Background(), p.Readers[0].Addr, "", "piv", 0, false); err == nil {
		t.Fatal("ran without --state")
	}
	if err := run(context.Background(), p.Readers[0].Addr, dir, "bogus", 0, false); err == nil {
		t.Fatal("ran with --mode bogus")
	}
}
