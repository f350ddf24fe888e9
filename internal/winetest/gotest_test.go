package winetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// portable are the packages whose unit tests mean something on Windows,
// and the tests to run (empty: all). pin's pinentry tests drive a shell
// script, so pin runs its Windows dialog tests and the portable ones. server's tests need
// Unix test helpers; its port fallback is tested in TestPortFallback.
var portable = []struct{ pkg, run string }{
	{"protocol", ""}, {"link", ""}, {"sites", ""}, {"cms", ""}, {"smime", ""},
	{"tray", ""}, {"desktop", ""},
	{"winmodules", ""},
	{"pin", "TestDialog|TestQueueOrder|TestYielding|TestClean|TestNeutralize$|TestCandidates"},
}

// wineTempDirLimit is the one failure Wine 8 causes in tests that pass on
// Windows: t.TempDir's cleanup uses FileDispositionInformationEx, which
// Wine 8 does not implement.
var wineTempDirLimit = regexp.MustCompile(`^\s+testing\.go:\d+: TempDir RemoveAll cleanup: .*: Invalid function\.$`)

func TestPortablePackages(t *testing.T) {
	need(t)
	bin := t.TempDir()
	for _, p := range portable {
		t.Run(p.pkg, func(t *testing.T) {
			test := filepath.Join(bin, p.pkg+".test.exe")
			build := exec.Command("go", "test", "-c", "-o", test, "./internal/"+p.pkg)
			build.Dir = repoRoot
			build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=1", "CC=x86_64-w64-mingw32-gcc")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			args := []string{test, "-test.v", "-test.count=1"}
			if p.run != "" {
				args = append(args, "-test.run", p.run)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "wine", args...)
			cmd.Dir = filepath.Join(repoRoot, "internal", p.pkg)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err == nil {
				t.Logf("%d tests passed under Wine", strings.Count(out.String(), "--- PASS"))
				return
			}
			if bad := realFailures(out.String()); len(bad) > 0 || !strings.Contains(out.String(), "--- FAIL") {
				t.Fatalf("%v; failures other than Wine's TempDir limit: %q\n%s", err, bad, stripWineNoise(out.String()))
			}
			t.Logf("passed under Wine apart from t.TempDir cleanup, which Wine 8 cannot do (%d tests)", strings.Count(out.String(), "--- PASS")+strings.Count(out.String(), "--- FAIL"))
		})
	}
}

// realFailures lists the failing tests whose output says more than
// wineTempDirLimit, and any panic.
func realFailures(out string) []string {
	var bad []string
	current := ""
	for _, l := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		switch {
		case strings.HasPrefix(l, "panic:"):
			bad = append(bad, l)
		case strings.HasPrefix(strings.TrimSpace(l), "--- FAIL: "):
			current = strings.Fields(strings.TrimSpace(l))[2]
		case strings.HasPrefix(l, "=== ") || strings.HasPrefix(strings.TrimSpace(l), "--- PASS") || strings.HasPrefix(strings.TrimSpace(l), "--- SKIP"):
			current = ""
		case current != "" && strings.TrimSpace(l) != "" && strings.HasPrefix(l, " ") && !wineTempDirLimit.MatchString(l):
			bad = append(bad, current+": "+strings.TrimSpace(l))
		}
	}
	return bad
}
