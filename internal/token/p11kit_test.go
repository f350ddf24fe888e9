//go:build unix

package token

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/moduletest"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// p11-kit's rules, on configuration in temp dirs: user files first and key
// by key over the system's, enable-in and disable-in for "cardbridge",
// relative names, x-init-reserved, priority, the trust module left out,
// and user-config.
func TestP11KitRules(t *testing.T) {
	root := t.TempDir()
	libs := filepath.Join(root, "lib")
	for _, l := range []string{"a.so", "b.so", "c.so", "d.so", "e.so", "f.so", "p11-kit-trust.so", "g.so"} {
		writeFiles(t, libs, map[string]string{l: ""})
	}
	lib := func(n string) string { return filepath.Join(libs, n) }
	c := p11kitConf{
		globalSystem: filepath.Join(root, "etc/pkcs11/pkcs11.conf"),
		globalUser:   filepath.Join(root, "home/.config/pkcs11/pkcs11.conf"),
		userDir:      filepath.Join(root, "home/.config/pkcs11/modules"),
		systemDir:    filepath.Join(root, "etc/pkcs11/modules"),
		packageDir:   filepath.Join(root, "usr/share/p11-kit/modules"),
		moduleDirs:   []string{libs},
	}
	writeFiles(t, c.packageDir, map[string]string{
		"a.module":     "module: a.so\n",                                    // relative name
		"b.module":     "module: " + lib("b.so") + "\npriority: 5\n",        // sorted first
		"c.module":     "# comment\nmodule: c.so\ndisable-in: cardbridge\n", // excluded
		"d.module":     "module: d.so\nenable-in: firefox, chromium\n",      // only for others
		"e.module":     "module: e.so\nenable-in: seahorse cardbridge\n",    // for us among others
		"trust.module": "module: p11-kit-trust.so\n",
		"f.module":     "module: f.so\n",
		"notes.txt":    "module: g.so\n", // not a .module file
		"gone.module":  "module: missing.so\n",
	})
	writeFiles(t, c.systemDir, map[string]string{
		"f.module": "module: f.so\ndisable-in: gnome-shell cardbridge\n", // /etc beats /usr/share
	})
	writeFiles(t, c.userDir, map[string]string{
		"a.module":    "x-init-reserved: configdir='sql:/tmp/x' flags=readOnly\n", // adds to the package's a
		"mine.module": "module: " + lib("g.so") + "\n",
	})
	want := []string{lib("b.so"), lib("a.so") + ";configdir='sql:/tmp/x' flags=readOnly", lib("e.so"), lib("g.so")}
	got, excluded := c.modules()
	if !slices.Equal(got, want) {
		t.Errorf("modules =\n%q\nwant\n%q", got, want)
	}
	for _, l := range []string{"c.so", "d.so", "f.so"} {
		if !excluded[lib(l)] {
			t.Errorf("%s is not reported as kept from cardbridge", l)
		}
	}

	writeFiles(t, filepath.Dir(c.globalUser), map[string]string{"pkcs11.conf": "user-config: only\n"})
	if got, _ := c.modules(); !slices.Equal(got, []string{lib("g.so")}) {
		t.Errorf("user-config only: %q", got)
	}
	writeFiles(t, filepath.Dir(c.globalSystem), map[string]string{"pkcs11.conf": "user-config: none\n"})
	if got, _ := c.modules(); slices.Contains(got, lib("g.so")) || len(got) != 3 {
		t.Errorf("user-config none: %q", got)
	}
}

// With HOME in a temp dir: a module the user registers is discovered and
// loaded, with its x-init-reserved (NSS softokn); one the user marks
// "disable-in: cardbridge" is not, even where it is a system module.
func TestP11KitUserConfigDiscovery(t *testing.T) {
	tok := softhsmtest.New(t, "p11kit")
	nss := moduletest.NewNSS(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	path, args, _ := strings.Cut(nss.Module, ";")
	writeFiles(t, filepath.Join(home, ".config/pkcs11/modules"), map[string]string{
		"nss-softokn.module": "module: " + path + "\nx-init-reserved: " + args + "\n",
		"softhsm2.module":    "module: " + tok.Module + "\ndisable-in: cardbridge\n",
	})
	found := Discover()
	if !slices.Contains(found, nss.Module) {
		t.Fatalf("the user's NSS module is not discovered: %q", found)
	}
	for _, f := range found {
		if realPath(ModulePath(f)) == realPath(tok.Module) {
			t.Fatalf("SoftHSM2, disabled for cardbridge, is discovered: %q", found)
		}
	}
	m := open(t, Options{Discovered: []string{nss.Module}}, nil)
	cardByLabel(t, m, moduletest.NSSLabel)
}
