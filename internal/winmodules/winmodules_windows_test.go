//go:build windows

package winmodules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnderRoot(t *testing.T) {
	roots := []string{`C:\Windows\system32`, `C:\Program Files`}
	for _, c := range []struct {
		path string
		want bool
	}{
		{`C:\Windows\System32\opensc-pkcs11.dll`, true},
		{`c:\program files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`, true},
		{`C:\Program Files\..\Users\Public\evil.dll`, false},
		{`\etc\pkcs11\modules\planted.dll`, false},      // the current drive
		{`etc\pkcs11\planted.dll`, false},               // the working directory
		{`C:\Program Files Evil\x.dll`, false},          // a sibling, not inside
		{`C:\Users\someone\AppData\Local\x.dll`, false}, // user-writable
		{`\\server\share\Program Files\x.dll`, false},   // another machine
		{`C:\Windows\system32`, false},                  // the root itself is no DLL
		{`/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so`, false},
	} {
		if got := underRoot(c.path, roots); got != c.want {
			t.Errorf("underRoot(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestDiscoverNoUnixPaths plants a p11-kit module file on the current
// drive, where any user may create \etc, and checks that discovery does
// not read it, and that everything it finds is in a trusted root.
func TestDiscoverNoUnixPaths(t *testing.T) {
	// Not t.TempDir: its os.RemoveAll needs FileDispositionInformationEx,
	// which Wine 8 lacks; plain removal, innermost first, works there
	// and on Windows.
	dir, err := os.MkdirTemp("", "discover")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range []string{`etc\pkcs11\modules\planted.module`, `etc\pkcs11\modules`, `etc\pkcs11`, `etc`, "planted.dll", ""} {
			os.Remove(filepath.Join(dir, p))
		}
	})
	planted := filepath.Join(dir, "planted.dll")
	if err := os.WriteFile(planted, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "etc", "pkcs11", "modules")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "planted.module"), []byte("module: "+planted+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// With the working directory in dir, \etc\... would be dir's drive,
	// and etc\... would be dir itself.
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	roots := trustedRoots()
	if len(roots) == 0 {
		t.Fatal("no system folder")
	}
	for _, m := range Discover() {
		if strings.EqualFold(m, planted) || !underRoot(m, roots) {
			t.Errorf("discovered %s, outside %v", m, roots)
		}
	}
}
