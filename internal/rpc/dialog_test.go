package rpc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/token"
)

// TestDialogsOnScreen shows the PIN and consent dialogs in the real
// pinentry-gtk-2 on a virtual screen and checks what a person sees: the
// window is called "cardbridge" and is no wider than a normal window.
// Screenshots go to $CARDBRIDGE_SCREENSHOT_DIR, or to a temporary folder
// whose path the test prints.
func TestDialogsOnScreen(t *testing.T) {
	need := func(prog string) string {
		p, err := exec.LookPath(prog)
		if err != nil {
			if os.Getenv("CI") == "true" || os.Getenv("CARDBRIDGE_REQUIRE_DESKTOP") != "" {
				t.Fatalf("%s is required here: %v", prog, err)
			}
			t.Skipf("%s missing: %v", prog, err)
		}
		return p
	}
	gtk := need("pinentry-gtk-2")
	need("Xvfb")
	need("xdotool")
	need("import")
	out := screenshotDir(t)

	info := token.LoginInfo{Serial: "1625834976919804", Label: "cardbridge demo", Reader: "SoftHSM slot ID 0x3f2a11c0",
		PIN: token.PINState{CountLow: true, MinLength: 4, MaxLength: 255}}
	for _, tt := range []struct {
		name    string
		prompt  pin.Prompt
		confirm bool
	}{
		{"pin", pinPrompt("http://127.0.0.1:47160", `create a new RSA-2048 key pair "Demo CA S/MIME · 3f9a" on your card and sign a certificate request for "Alice Example" <alice@example.org> with it.`, info), false},
		{"consent", consentPrompt("https://a-rather-long-portal-name.certificate-authority.example"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A screen of its own: the window of the dialog before may
			// still be closing, under the same name.
			t.Setenv("DISPLAY", startXvfb(t))
			p := pin.NewPinentry(gtk)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				var err error
				if tt.confirm {
					err = p.Confirm(ctx, tt.prompt)
				} else {
					_, err = p.GetPIN(ctx, tt.prompt)
				}
				done <- err
			}()
			defer func() { cancel(); <-done }()
			win := waitWindow(t, "cardbridge")
			geo, _ := exec.Command("xdotool", "getwindowgeometry", win).Output()
			m := regexp.MustCompile(`Geometry: (\d+)x(\d+)`).FindStringSubmatch(string(geo))
			if m == nil {
				t.Fatalf("geometry: %s", geo)
			}
			// Let GTK finish drawing before the picture.
			time.Sleep(300 * time.Millisecond)
			shot := filepath.Join(out, "dialog-"+tt.name+".png")
			if b, err := exec.Command("import", "-window", "root", shot).CombinedOutput(); err != nil {
				t.Fatalf("screenshot: %v %s", err, b)
			}
			if w, _ := strconv.Atoi(m[1]); w > 800 {
				t.Errorf("dialog is %s px wide; a normal window is at most 800", m[1])
			}
		})
	}
}

// startXvfb starts a virtual screen on a display number the server picks
// itself, so that tests running beside this one do not collide.
func startXvfb(t *testing.T) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb did not start")
		}
		return ":" + n
	case <-time.After(10 * time.Second):
		t.Fatal("Xvfb did not start in 10 s")
	}
	return ""
}

func waitWindow(t *testing.T, name string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("xdotool", "search", "--name", "^"+regexp.QuoteMeta(name)+"$").Output()
		if f := strings.Fields(string(out)); len(f) > 0 {
			return f[0]
		}
	}
	t.Fatalf("no window named %q", name)
	return ""
}

// screenshotDir is where a test's screenshots go: never the source tree.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CARDBRIDGE_SCREENSHOT_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cardbridge-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "screenshots of %s: %s\n", t.Name(), dir)
	return dir
}
