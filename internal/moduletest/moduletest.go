// Package moduletest sets up real PKCS#11 modules other than SoftHSM2 for
// tests, each in the test's temp dirs: NSS's softokn on a database made by
// certutil, tpm2-pkcs11 on a software TPM (swtpm) on free ports, and a
// small module standing in for a slow reader with a card no driver knows.
//
// A missing component skips the test on a developer's machine and fails it
// when CI is true or CARDBRIDGE_REQUIRE_MODULES is set, so that CI cannot
// pass by skipping.
package moduletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

var startHome = os.Getenv("HOME")

// Missing skips or fails the test for a missing component.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CARDBRIDGE_REQUIRE_MODULES") != "" || os.Getenv("CI") == "true" {
		t.Fatalf("%s is required here: %v", what, err)
	}
	t.Skipf("%s missing: %v", what, err)
}

// need returns the path of each program, or skips the test.
func need(t testing.TB, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			Missing(t, p, err)
		}
	}
}

// findLib returns the first of names found in the usual library dirs.
func findLib(t testing.TB, what string, names ...string) string {
	t.Helper()
	dirs := []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"}
	for _, d := range dirs {
		for _, n := range names {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	Missing(t, what, os.ErrNotExist)
	return ""
}

// SlowModule builds testdata/slow_pkcs11.c into a temp dir and returns the
// library's path. Its C_Initialize, C_GetSlotList and C_GetTokenInfo each
// take delayMS milliseconds (set through SLOW_PKCS11_DELAY_MS for this
// test), its one reader is "Slow Reader", and its card is one no driver
// knows. C_Initialize calls are counted as lines in the returned log file.
func SlowModule(t testing.TB, delayMS int) (lib, initLog string) {
	t.Helper()
	need(t, "gcc", "go")
	dir := t.TempDir()
	lib, err := BuildSlowModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	initLog = filepath.Join(dir, "initialize.log")
	t.Setenv("SLOW_PKCS11_DELAY_MS", strconv.Itoa(delayMS))
	t.Setenv("SLOW_PKCS11_LOG", initLog)
	return lib, initLog
}

// BuildSlowModule compiles the slow module into dir with gcc; the
// benchmark uses it too. It needs the source tree.
func BuildSlowModule(dir string) (string, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "testdata", "slow_pkcs11.c")
	// The headers that ship with miekg/pkcs11, from the module cache of
	// the HOME the program started with: a test may have moved HOME.
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11")
	list.Dir = filepath.Dir(self)
	list.Env = append(os.Environ(), "HOME="+startHome)
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("find the pkcs11 headers: %w", err)
	}
	lib := filepath.Join(dir, "libslow-pkcs11.so")
	cmd := exec.Command("gcc", "-shared", "-fPIC", "-Wall", "-Wno-cast-function-type", "-include", "stddef.h",
		"-I", strings.TrimSpace(string(out)), "-o", lib, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the slow module: %w\n%s", err, b)
	}
	return lib, nil
}

// Initializations counts the C_Initialize calls logged in initLog.
func Initializations(initLog string) int {
	b, _ := os.ReadFile(initLog)
	return strings.Count(string(b), "\n")
}
