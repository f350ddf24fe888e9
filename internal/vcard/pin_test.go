package vcard_test

import (
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard"
)

// TestPINWithTool counts wrong PINs down to blocked through yubico-piv-tool,
// unblocks with the PUK, changes the PIN, and checks that the counters
// survive pulling the card out and putting it back.
func TestPINWithTool(t *testing.T) {
	b := newBench(t)
	wrong := func(want string) {
		t.Helper()
		out, err := b.try("yubico-piv-tool", "-a", "verify-pin", "-P", "000000")
		if err == nil {
			t.Fatalf("wrong PIN accepted:\n%s", out)
		}
		mustContain(t, out, want)
	}
	wrong("2 tries left")
	wrong("1 tries left")
	b.reinsert()
	mustContain(t, b.piv("-a", "status"), "PIN tries left:\t1")
	wrong("blocked")
	out, err := b.try("yubico-piv-tool", "-a", "verify-pin", "-P", vcard.DefaultPIN)
	if err == nil {
		t.Fatalf("right PIN accepted on a blocked card:\n%s", out)
	}
	mustContain(t, out, "blocked")

	b.piv("-a", "unblock-pin", "-P", vcard.DefaultPUK, "-N", "654321")
	b.piv("-a", "verify-pin", "-P", "654321")
	b.piv("-a", "change-pin", "-P", "654321", "-N", "11223344")
	b.reinsert()
	b.piv("-a", "verify-pin", "-P", "11223344")
	mustContain(t, b.piv("-a", "status"), "PIN tries left:\t3")

	// A wrong PUK counts down too.
	out, err = b.try("yubico-piv-tool", "-a", "unblock-pin", "-P", "87654321", "-N", "123456")
	if err == nil || !strings.Contains(out, "2 tries left") {
		t.Fatalf("wrong PUK: %v\n%s", err, out)
	}
	b.piv("-a", "change-puk", "-P", vcard.DefaultPUK, "-N", "99887766")
}
