package moduletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NSS is a fresh NSS database opened through softokn.
type NSS struct {
	Dir    string
	Module string // the spec for --module: "PATH;ARGS"
	PIN    string // of the "NSS Certificate DB" token
}

// NSSLabel is the label of the database token, the one that stores keys.
const NSSLabel = "NSS Certificate DB"

// NewNSS makes a database with certutil -N and the softokn arguments that
// open it: configdir in sql: form, no name prefixes, and secmod.db, the
// names NSS_Initialize would use (see NSS's PKCS #11 module specs).
func NewNSS(t testing.TB) NSS {
	t.Helper()
	need(t, "certutil")
	lib := findLib(t, "NSS softokn", "libsoftokn3.so", "nss/libsoftokn3.so")
	dir := t.TempDir()
	n := NSS{Dir: dir, PIN: "nss-pin-1"}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(n.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("certutil", "-N", "-d", "sql:"+dir, "-f", pw).CombinedOutput(); err != nil {
		t.Fatalf("certutil -N: %v\n%s", err, out)
	}
	n.Module = fmt.Sprintf("%s;configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' flags=", lib, dir)
	return n
}
