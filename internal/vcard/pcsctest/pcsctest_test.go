package pcsctest

import (
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	p := Start(t, 3)
	seen := map[string]bool{}
	for _, r := range p.Readers {
		if !strings.HasPrefix(r.Name, "Yubico") {
			t.Errorf("reader %q: ykcs11 only takes readers named Yubico…", r.Name)
		}
		if seen[r.Addr] || seen[r.Name] {
			t.Errorf("reader %+v twice", r)
		}
		seen[r.Addr], seen[r.Name] = true, true
	}
	if len(p.Readers) < 3 {
		t.Fatalf("%d readers, want 3", len(p.Readers))
	}
	env := strings.Join(p.Env(), "\n")
	if strings.Count(env, "PCSCLITE_CSOCK_NAME=") != 1 || !strings.Contains(env, "PCSCLITE_CSOCK_NAME="+p.Socket) {
		t.Fatalf("Env() does not point at %s", p.Socket)
	}
	// Two at once, as two test packages run side by side.
	q := Start(t, 1)
	if q.Socket == p.Socket || q.Readers[0].Addr == p.Readers[0].Addr {
		t.Fatal("two pcscds share a socket or port")
	}
}
