package winetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The environment that TestMain sets up once per run: wineboot takes a
// while, so every test shares one private Wine prefix and one Xvfb.
var (
	exe      string // cardbridge.exe on the Linux side
	msi      string // cardbridge.msi, or empty
	prefix   string // the private WINEPREFIX
	outDir   string // screenshots and logs for people to look at
	display  string // the private Xvfb display, ":N"
	standin  string // the stand-in PKCS#11 DLL, as a Windows path
	relayExe string // testdata/relay built for Windows
	driveC   string // the prefix's C: on the Linux side
	repoRoot string
	skipWhy  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	exe = os.Getenv("CARDBRIDGE_WINE_EXE")
	if exe == "" {
		skipWhy = "set CARDBRIDGE_WINE_EXE to a cardbridge.exe (task test:windows does)"
		return m.Run()
	}
	msi = os.Getenv("CARDBRIDGE_WINE_MSI")
	root, err := filepath.Abs("../..")
	if err != nil {
		return fail(err)
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "cardbridge-wine")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	outDir = os.Getenv("CARDBRIDGE_WINE_OUT")
	if outDir == "" {
		outDir = filepath.Join(tmp, "out")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fail(err)
	}
	prefix = filepath.Join(tmp, "prefix")
	driveC = filepath.Join(prefix, "drive_c")
	os.Setenv("WINEPREFIX", prefix)
	os.Setenv("WINEDEBUG", "-all")
	// No Mono or Gecko installer dialogs in a fresh prefix.
	os.Setenv("WINEDLLOVERRIDES", "mscoree,mshtml=")
	stopX, err := startXvfb()
	if err != nil {
		return fail(err)
	}
	defer stopX()
	os.Setenv("DISPLAY", display)
	defer exec.Command("wineserver", "-k").Run()
	start := time.Now()
	if out, err := exec.Command("wine", "wineboot", "-i").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("wineboot: %v\n%s", err, out))
	}
	fmt.Printf("winetest: prefix ready in %v\n", time.Since(start).Round(time.Millisecond))
	if err := processPrng(tmp); err != nil {
		return fail(err)
	}
	dll := filepath.Join(driveC, "standin", "standin-pkcs11.dll")
	if err := mingw(dll, "pkcs11-standin.c", "-I"+pkcs11Headers()); err != nil {
		return fail(err)
	}
	standin = `C:\standin\standin-pkcs11.dll`
	relayExe = filepath.Join(tmp, "relay.exe")
	build := exec.Command("go", "build", "-o", relayExe, "./internal/winetest/testdata/relay")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("build the relay: %v\n%s", err, out))
	}
	return m.Run()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "winetest:", err)
	return 1
}

// need skips a test when the Wine environment was not asked for.
func need(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

// processPrng puts the stand-in bcryptprimitives.dll into the prefix, but
// only when this Wine has none: Go programs need its ProcessPrng.
func processPrng(tmp string) error {
	dst := filepath.Join(driveC, "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(dst); err == nil {
		fmt.Println("winetest: this Wine has bcryptprimitives.dll; no stand-in")
		return nil
	}
	fmt.Println("winetest: this Wine lacks bcryptprimitives.dll; installing the ProcessPrng stand-in")
	return mingw(dst, "processprng.c", "-lbcrypt")
}

// mingw builds a DLL from a C file in testdata.
func mingw(dst, src string, flags ...string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	args := append([]string{"-shared", "-O2", "-o", dst, filepath.Join(repoRoot, "testdata", src)}, flags...)
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mingw %s: %v\n%s", src, err, out)
	}
	return nil
}

// pkcs11Headers is the folder of the PKCS#11 headers that the Go module
// github.com/miekg/pkcs11 carries.
func pkcs11Headers() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// startXvfb starts a private X server on the first display number from
// a per-process start that has no lock file and that Xvfb can take.
func startXvfb() (stop func(), err error) {
	for n := 100 + os.Getpid()%400; n < 600; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		logf, err := os.Create(filepath.Join(outDir, "xvfb.log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("Xvfb", fmt.Sprintf(":%d", n), "-screen", "0", "1024x768x24", "-nolisten", "tcp")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("Xvfb: %w", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(exited) }()
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		for i := 0; i < 100; i++ {
			select {
			case <-exited:
				i = 100 // taken after all; try the next number
				continue
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := os.Stat(sock); err == nil {
				display = fmt.Sprintf(":%d", n)
				return func() { cmd.Process.Kill(); <-exited }, nil
			}
		}
		cmd.Process.Kill()
		<-exited
	}
	return nil, fmt.Errorf("no free X display for Xvfb")
}

// wine runs cardbridge.exe (or another Windows program) to its end.
func wine(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wine", args...)
	cmd.Dir = driveC
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return stripWineNoise(out.String()), err
}

// stripWineNoise drops the Debian wrapper's note that wine32 is missing
// (this machine has the 64-bit Wine only).
func stripWineNoise(s string) string {
	var keep []string
	skip := false
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "wine32 is missing") {
			skip = true
		}
		if skip {
			if strings.Contains(l, "apt-get install wine32") {
				skip = false
			}
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// winPath is a Linux path as Wine's Z: drive shows it.
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// screenshot saves the whole Xvfb screen into the output folder.
func screenshot(t *testing.T, name string) {
	t.Helper()
	p := filepath.Join(outDir, name+".png")
	if out, err := exec.Command("import", "-display", display, "-window", "root", p).CombinedOutput(); err != nil {
		t.Errorf("screenshot: %v\n%s", err, out)
		return
	}
	t.Logf("screenshot: %s", p)
}

// seenWindows are the dialog windows waitWindow returned before: every
// cardbridge dialog has the same title, so a new one is one not seen yet.
var seenWindows = map[string]bool{}

// waitWindow waits for a new visible window whose title matches pattern.
func waitWindow(t *testing.T, pattern string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("xdotool", "search", "--onlyvisible", "--name", pattern).Output()
		for _, id := range strings.Fields(string(out)) {
			if !seenWindows[id] {
				seenWindows[id] = true
				return id
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	screenshot(t, "no-window")
	t.Fatalf("no new window %q appeared", pattern)
	return ""
}

// xdo runs xdotool with the window focused first.
func xdo(t *testing.T, win string, args ...string) {
	t.Helper()
	if out, err := exec.Command("xdotool", "windowfocus", "--sync", win).CombinedOutput(); err != nil {
		t.Fatalf("xdotool windowfocus: %v\n%s", err, out)
	}
	if out, err := exec.Command("xdotool", args...).CombinedOutput(); err != nil {
		t.Fatalf("xdotool %v: %v\n%s", args, err, out)
	}
}
