package pcsctest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard"
)

// TestStart: readers named for ykcs11, a card in each one at once (each
// reader.conf entry of vpcd needs a library of its own), and two pcscds side
// by side, as two test packages run them.
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
	for i := range p.Readers {
		p.Insert(t, i, t.TempDir(), vcard.Options{})
	}
	if _, err := exec.LookPath("opensc-tool"); err == nil {
		cmd := exec.Command("opensc-tool", "--list-readers")
		cmd.Env = p.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("opensc-tool: %v\n%s", err, out)
		}
		if n := strings.Count(string(out), "Yes "); n != len(p.Readers) {
			t.Fatalf("%d readers with a card, want %d:\n%s", n, len(p.Readers), out)
		}
	}
	q := Start(t, 1)
	if q.Socket == p.Socket || q.Readers[0].Addr == p.Readers[0].Addr {
		t.Fatal("two pcscds share a socket or port")
	}
}

func TestShared(t *testing.T) {
	p := Shared(t)
	if Shared(t) != p || os.Getenv("PCSCLITE_CSOCK_NAME") != p.Socket || len(p.Readers) < SharedReaders {
		t.Fatalf("Shared: %+v, PCSCLITE_CSOCK_NAME=%s", p, os.Getenv("PCSCLITE_CSOCK_NAME"))
	}
	p.Insert(t, SharedReaders-1, t.TempDir(), vcard.Options{})
}

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}
