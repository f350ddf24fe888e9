package cli

import (
	"encoding/pem"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/gorilla/websocket"
)

// bin is the real cardbridge binary, built once for these tests: links,
// xdg-open and the tray start it as a separate process.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cardbridge-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "cardbridge")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/cardbridge").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	pcsctest.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// desktopEnv is a fresh user: a temp HOME and XDG dirs, a SoftHSM2 card,
// and the scripted pinentry for every daemon started from here.
type desktopEnv struct {
	t      *testing.T
	home   string
	tok    *softhsm.Token
	pinLog string
}

func newDesktopEnv(t *testing.T) *desktopEnv {
	t.Helper()
	tok := softhsmtest.New(t, "desktop card")
	home := t.TempDir()
	e := &desktopEnv{t: t, home: home, tok: tok, pinLog: filepath.Join(home, "pinentry.log")}
	run := filepath.Join(home, "run")
	os.Mkdir(run, 0o700)
	for k, v := range map[string]string{
		"HOME": home, "XDG_RUNTIME_DIR": run, "XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_DATA_HOME": filepath.Join(home, ".local", "share"), "XDG_STATE_HOME": filepath.Join(home, ".local", "state"),
		"CB_TEST_PIN": softhsmtest.PIN, "CB_TEST_PINENTRY_LOG": e.pinLog, "DBUS_SESSION_BUS_ADDRESS": "",
	} {
		t.Setenv(k, v)
	}
	script, _ := filepath.Abs("../../testdata/pinentry-script")
	t.Setenv("CARDBRIDGE_PINENTRY", script)
	// Other programs may hold the default ports: the daemon a link
	// starts listens on a free one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CARDBRIDGE_LISTEN", ln.Addr().String())
	ln.Close()
	t.Cleanup(e.killDaemon)
	return e
}

func (e *desktopEnv) cardbridge(args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// waitDaemon waits for a daemon on the control socket and returns its pid.
func (e *desktopEnv) waitDaemon() int {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r, err := control.Ping(); err == nil {
			return r.PID
		}
	}
	e.t.Fatal("no daemon answers on the control socket")
	return 0
}

func (e *desktopEnv) killDaemon() {
	if r, err := control.Ping(); err == nil && r.PID > 0 {
		syscall.Kill(r.PID, syscall.SIGTERM)
		for i := 0; i < 100; i++ {
			if syscall.Kill(r.PID, 0) != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(r.PID, syscall.SIGKILL)
	}
}

// dialAny connects to the WebSocket of the daemon this test started,
// wherever it listens: another program may hold any of the default ports.
func dialAny(t *testing.T, origin string) *websocket.Conn {
	t.Helper()
	r, err := control.Ping()
	if err != nil || r.Addr == "" {
		t.Fatalf("no daemon: %v %+v", err, r)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.Addr+"/v1", http.Header{"Origin": {origin}})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestOpenStartsOneDaemon(t *testing.T) {
	e := newDesktopEnv(t)
	if out, err := e.cardbridge("open", "cardbridge://sign!"); err == nil || !strings.Contains(out, "invalid cardbridge link") {
		t.Fatalf("malformed link: %v %s", err, out)
	}
	if _, err := control.Ping(); err == nil {
		t.Fatal("a malformed link started the daemon")
	}
	start := time.Now()
	if out, err := e.cardbridge("open", "cardbridge://start"); err != nil {
		t.Fatalf("open: %v %s", err, out)
	}
	t.Logf("cardbridge open cardbridge://start took %v", time.Since(start))
	pid := e.waitDaemon()
	ws := dialAny(t, "https://portal.example")
	ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "system.info"})
	var resp map[string]any
	if err := ws.ReadJSON(&resp); err != nil || resp["result"] == nil {
		t.Fatalf("system.info: %v %v", resp, err)
	}
	ws.Close()
	// A second daemon refuses to start; a second open reuses the first.
	if out, err := e.cardbridge("serve", "--listen", "127.0.0.1:0"); err == nil || !strings.Contains(out, "already running") {
		t.Fatalf("second daemon: %v %s", err, out)
	}
	if out, err := e.cardbridge("open", "cardbridge://start"); err != nil {
		t.Fatalf("second open: %v %s", err, out)
	}
	if again := e.waitDaemon(); again != pid {
		t.Fatalf("a second daemon started: %d, %d", pid, again)
	}
	fi, err := os.Stat(control.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode: %v %v", fi, err)
	}
}

// Links only start cardbridge: a method link, which any page could open in
// any site's name, is refused both by `cardbridge open` and by a running
// daemon, and nothing is POSTed anywhere.
func TestMethodLinksRefused(t *testing.T) {
	e := newDesktopEnv(t)
	posted := make(chan string, 4)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posted <- r.URL.String() }))
	defer srv.Close()
	ca := filepath.Join(e.home, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	t.Setenv("SSL_CERT_FILE", ca)

	params := "eyJhbGdvcml0aG0iOiJFQy1QMjU2IiwibGFiZWwiOiJ2aWEgbGluayJ9" // {"algorithm":"EC-P256","label":"via link"}
	links := []string{
		"cardbridge://keys.generate?params=" + params + "&callback=" + srv.URL + "/done",
		"cardbridge://system.info?callback=" + srv.URL + "/blind",
		"cardbridge://nope?callback=http://localhost:1/x",
	}
	if out, err := e.cardbridge("open", links[0]); err == nil || !strings.Contains(out, "links only start cardbridge") {
		t.Fatalf("method link: %v %s", err, out)
	}
	if _, err := control.Ping(); err == nil {
		t.Fatal("a method link started the daemon")
	}
	// A daemon on a free port (the default ports may be taken).
	daemon := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	go daemon.Wait()
	e.waitDaemon()
	if out, err := e.cardbridge("open", "cardbridge://start"); err != nil {
		t.Fatalf("open with a daemon running: %v %s", err, out)
	}
	// Straight to the daemon, past `cardbridge open`'s own check.
	for _, l := range links {
		if err := control.Open(l); err == nil || !strings.Contains(err.Error(), "links only start cardbridge") {
			t.Fatalf("daemon took %s: %v", l, err)
		}
	}
	select {
	case u := <-posted:
		t.Fatalf("something was POSTed to %s", u)
	case <-time.After(2 * time.Second):
	}
	if log, _ := os.ReadFile(e.pinLog); len(log) != 0 {
		t.Fatalf("a link opened dialogs:\n%s", log)
	}
}

func TestInstallWithXDG(t *testing.T) {
	for _, tool := range []string{"xdg-mime", "xdg-open"} {
		if _, err := exec.LookPath(tool); err != nil {
			softhsmtest.Missing(t, err) // CI must have xdg-utils
		}
	}
	e := newDesktopEnv(t)
	t.Setenv("DISPLAY", ":99") // xdg-open only uses desktop files with a display
	out, err := e.cardbridge("install", "--user")
	if err != nil {
		t.Fatalf("install: %v %s", err, out)
	}
	q, err := exec.Command("xdg-mime", "query", "default", "x-scheme-handler/cardbridge").Output()
	if err != nil || strings.TrimSpace(string(q)) != "cardbridge.desktop" {
		t.Fatalf("xdg-mime query: %q %v", q, err)
	}
	files := []string{
		filepath.Join(e.home, ".local/share/applications/cardbridge.desktop"),
		filepath.Join(e.home, ".config/chromium/NativeMessagingHosts/app.cardbridge.json"),
		filepath.Join(e.home, ".config/google-chrome/NativeMessagingHosts/app.cardbridge.json"),
		filepath.Join(e.home, ".config/microsoft-edge/NativeMessagingHosts/app.cardbridge.json"),
		filepath.Join(e.home, ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts/app.cardbridge.json"),
		filepath.Join(e.home, ".mozilla/native-messaging-hosts/app.cardbridge.json"),
	}
	if !strings.Contains(out, "systemd --user") {
		files = append(files, filepath.Join(e.home, ".config/autostart/cardbridge.desktop"))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), bin) {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(files[1]); !strings.Contains(string(b), "chrome-extension://lbbliobokjckpakbilehjmlondngalee/") {
		t.Fatalf("chromium manifest: %s", b)
	}
	// The real xdg-open follows the registration and starts cardbridge.
	if b, err := exec.Command("xdg-open", "cardbridge://start").CombinedOutput(); err != nil {
		t.Fatalf("xdg-open: %v %s", err, b)
	}
	e.waitDaemon()
	dialAny(t, "https://portal.example").Close()
	e.killDaemon()

	if out, err := e.cardbridge("uninstall"); err != nil {
		t.Fatalf("uninstall: %v %s", err, out)
	}
	for _, f := range files {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind", f)
		}
	}
	if q, _ := exec.Command("xdg-mime", "query", "default", "x-scheme-handler/cardbridge").Output(); strings.TrimSpace(string(q)) != "" {
		t.Errorf("handler still registered: %q", q)
	}
}
