package winetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestVersion(t *testing.T) {
	need(t)
	out, err := wine(t, exe, "version")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "cardbridge ") {
		t.Fatalf("version: %v\n%s", err, out)
	}
}

// TestStatusIgnoresUnixPaths plants a p11-kit module file at C:\etc, which
// any Windows user may create, and runs status with the working directory
// on C:. Discovery must not read it: the DLL it names must never load.
func TestStatusIgnoresUnixPaths(t *testing.T) {
	need(t)
	log := standinLog(t)
	dir := filepath.Join(driveC, "etc", "pkcs11", "modules")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Join(driveC, "etc"))
	if err := os.WriteFile(filepath.Join(dir, "planted.module"), []byte("module: "+standin+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := wine(t, exe, "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if strings.Contains(out, "standin") || strings.Contains(out, "WINE0001") {
		t.Fatalf("status loaded the planted module:\n%s", out)
	}
	if b, _ := os.ReadFile(log); len(b) > 0 {
		t.Fatalf("the planted module was called:\n%s", b)
	}
	if !strings.Contains(out, "No PKCS#11 module found") || strings.Contains(out, "apt-get") {
		t.Errorf("status without modules should give a Windows hint:\n%s", out)
	}
}

func TestStatusModule(t *testing.T) {
	need(t)
	log := standinLog(t)
	out, err := wine(t, exe, "status", "--module", standin)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"Wine stand-in reader", "Card number: WINE0001", "Key 01", "EC-P256"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(log); !bytes.Contains(b, []byte("C_GetTokenInfo")) {
		t.Errorf("the module's log lacks C_GetTokenInfo:\n%s", b)
	}
}

// standinLog points the stand-in module's call log at a fresh file.
func standinLog(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "standin.log")
	t.Setenv("CARDBRIDGE_STANDIN_LOG", winPath(p))
	return p
}

// freePort is a loopback port free on the Linux side; Wine shares the
// host's ports.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon starts cardbridge.exe with args and stops it at the end of
// the test. Its output goes to a file in the output folder.
func startDaemon(t *testing.T, name string, args ...string) string {
	t.Helper()
	logPath := filepath.Join(outDir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("wine", append([]string{exe}, args...)...)
	cmd.Dir = driveC
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		// The named pipe goes with the process; wait until it has.
		for i := 0; i < 50; i++ {
			if out, _ := exec.Command("wine", exe, "status").Output(); !strings.Contains(string(out), "Daemon: running") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return logPath
}

type rpcClient struct {
	t  *testing.T
	ws *websocket.Conn
	id int
}

// dial connects to the daemon on port the way a browser on Windows does:
// from a Windows process of the same user. The daemon refuses connections
// whose owner it cannot see, and Wine reports no owner for a Linux
// process; so a relay runs under Wine, and the Linux side talks to it.
func dial(t *testing.T, port int) *rpcClient {
	t.Helper()
	via := freePort(t)
	cmd := exec.Command("wine", relayExe, strconv.Itoa(via), strconv.Itoa(port))
	cmd.Dir = driveC
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	h := http.Header{"Origin": {"https://portal.example"}, "Host": {"127.0.0.1:" + strconv.Itoa(port)}}
	var ws *websocket.Conn
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ws, _, err = websocket.DefaultDialer.Dial("ws://127.0.0.1:"+strconv.Itoa(via)+"/v1", h); err == nil {
			t.Cleanup(func() { ws.Close() })
			return &rpcClient{t: t, ws: ws}
		}
	}
	t.Fatalf("the daemon under Wine never answered on port %d (through the relay on %d): %v", port, via, err)
	return nil
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// send writes a request; recv reads its answer (one request at a time).
func (c *rpcClient) send(method string, params any) {
	c.id++
	req := map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if err := c.ws.WriteJSON(req); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rpcClient) recv() rpcResponse {
	c.ws.SetReadDeadline(time.Now().Add(90 * time.Second))
	for {
		var r struct {
			rpcResponse
			ID *int `json:"id"`
		}
		if err := c.ws.ReadJSON(&r); err != nil {
			c.t.Fatal(err)
		}
		if r.ID != nil && *r.ID == c.id {
			return r.rpcResponse
		}
	}
}

// TestServe drives the daemon under Wine from Linux: system.info,
// cards.list after consent in the Windows message box, and sign after the
// PIN typed into the Windows PIN window; then a cancelled PIN window.
func TestServe(t *testing.T) {
	need(t)
	log := standinLog(t)
	port := freePort(t)
	startDaemon(t, "serve", "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--module", standin, "--config", `C:\cardbridge-config`)
	c := dial(t, port)

	c.send("system.info", nil)
	if r := c.recv(); r.Error != nil || !bytes.Contains(r.Result, []byte(`"cardbridge"`)) {
		t.Fatalf("system.info: %+v %s", r.Error, r.Result)
	}

	c.send("cards.list", nil)
	win := waitWindow(t, "^cardbridge$")
	screenshot(t, "consent")
	// Deny is the default button; Allow is one to the left.
	xdo(t, win, "key", "shift+Tab", "space")
	r := c.recv()
	if r.Error != nil || !bytes.Contains(r.Result, []byte("WINE0001")) {
		t.Fatalf("cards.list: %+v %s", r.Error, r.Result)
	}

	digest := make([]byte, 32)
	c.send("sign", map[string]any{"card": "WINE0001", "keyId": "01", "algorithm": "ECDSA-SHA256", "digest": digest})
	win = waitWindow(t, "^cardbridge$")
	screenshot(t, "pin")
	xdo(t, win, "type", "--delay", "30", "123456")
	xdo(t, win, "key", "Return")
	r = c.recv()
	calls, _ := os.ReadFile(log)
	if !bytes.Contains(calls, []byte("C_Login")) || !bytes.Contains(calls, []byte("C_Sign 32 bytes")) {
		t.Fatalf("the PIN and the digest did not reach the module (answer %+v %s); its calls:\n%s", r.Error, r.Result, calls)
	}
	t.Logf("sign answered %+v %s (the stand-in's signature is not a valid one)", r.Error, r.Result)

	// A new PIN is asked twice in one window; when the two differ, the
	// window says so and asks again.
	c.send("pin.change", map[string]any{"card": "WINE0001"})
	win = waitWindow(t, "^cardbridge$")
	xdo(t, win, "type", "--delay", "30", "123456")
	xdo(t, win, "key", "Return")
	win = waitWindow(t, "^cardbridge$")
	xdo(t, win, "type", "--delay", "30", "1111")
	xdo(t, win, "key", "Tab")
	xdo(t, win, "type", "--delay", "30", "2222")
	xdo(t, win, "key", "Return")
	time.Sleep(500 * time.Millisecond)
	screenshot(t, "new-pin-mismatch")
	xdo(t, win, "type", "--delay", "30", "4321")
	xdo(t, win, "key", "Tab")
	xdo(t, win, "type", "--delay", "30", "4321")
	xdo(t, win, "key", "Return")
	if r := c.recv(); r.Error != nil {
		t.Fatalf("pin.change: %+v", r.Error)
	}
	if calls, _ := os.ReadFile(log); !bytes.Contains(calls, []byte("C_SetPIN")) {
		t.Fatalf("the new PIN did not reach the module; its calls:\n%s", calls)
	}

	c.send("sign", map[string]any{"card": "WINE0001", "keyId": "01", "algorithm": "ECDSA-SHA256", "digest": digest})
	win = waitWindow(t, "^cardbridge$")
	xdo(t, win, "key", "Escape")
	if r := c.recv(); r.Error == nil || r.Error.Code != 1001 {
		t.Fatalf("a cancelled PIN window gave %+v %s, want error 1001", r.Error, r.Result)
	}
}

// TestNativeHost runs the relay a browser would start, over the daemon's
// named pipe.
func TestNativeHost(t *testing.T) {
	need(t)
	port := freePort(t)
	startDaemon(t, "native-host-daemon", "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--allow-origin", "https://portal.example", "--config", `C:\cardbridge-config2`)
	dial(t, port) // it is up
	// Under Wine 8 the first client of a new pipe listener reaches the
	// placeholder instance go-winio creates to own the name, which real
	// Windows keeps disconnected; that connection is never served. So a
	// first silent attempt is allowed, once.
	if err := nativeHost(t, 10*time.Second); err != nil {
		t.Logf("first relay attempt: %v (Wine loses a new pipe's first connection; see README)", err)
		if err := nativeHost(t, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// nativeHost runs the relay a browser would start, over the running
// daemon's named pipe.
func nativeHost(t *testing.T, wait time.Duration) error {
	var in bytes.Buffer
	frame := func(v any) {
		b, _ := json.Marshal(v)
		binary.Write(&in, binary.LittleEndian, uint32(len(b)))
		in.Write(b)
	}
	frame(map[string]any{"cardbridge": "hello", "origin": "https://portal.example", "version": 1})
	frame(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "system.info"})
	cmd := exec.Command("wine", exe, "chrome-extension://lbbliobokjckpakbilehjmlondngalee/")
	cmd.Dir = driveC
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	defer stdin.Close() // the browser closing the port ends the host
	stdin.Write(in.Bytes())
	// Read the hello and the answer, as a browser would, before closing.
	msgs := make(chan string, 4)
	go func() {
		defer close(msgs)
		for {
			var n uint32
			if err := binary.Read(stdout, binary.LittleEndian, &n); err != nil {
				return
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(stdout, b); err != nil {
				return
			}
			msgs <- string(b)
		}
	}()
	var got []string
	timeout := time.After(wait)
	for len(got) < 2 {
		select {
		case m, ok := <-msgs:
			if !ok {
				return fmt.Errorf("native host ended after %q\n%s", got, errOut.String())
			}
			got = append(got, m)
		case <-timeout:
			return fmt.Errorf("native host answered only %q in %v\n%s", got, wait, errOut.String())
		}
	}
	if !strings.Contains(got[0], `"hello"`) || !strings.Contains(got[1], `"id":7`) || !strings.Contains(got[1], `"cardbridge"`) {
		return fmt.Errorf("native host answered %q", got)
	}
	return nil
}

// TestPortFallback holds 127.0.0.1:47150 from Linux (or finds it taken
// already) and starts the daemon on its default address: under Windows it
// must move on to the next four ports, where a taken port is WSAEADDRINUSE.
func TestPortFallback(t *testing.T) {
	need(t)
	if ln, err := net.Listen("tcp", "127.0.0.1:47150"); err == nil {
		defer ln.Close()
	}
	logPath := startDaemon(t, "fallback", "serve", "--config", `C:\cardbridge-config3`)
	var b []byte
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if b, _ = os.ReadFile(logPath); bytes.Contains(b, []byte("cardbridge is listening")) || bytes.Contains(b, []byte("listen on")) {
			break
		}
	}
	var port int
	for p := 47151; p <= 47154; p++ {
		if bytes.Contains(b, []byte(fmt.Sprintf(`"ws://127.0.0.1:%d/v1"`, p))) {
			port = p
		}
	}
	switch {
	case port != 0:
		t.Logf("47150 taken: the daemon listens on %d", port)
	case bytes.Contains(b, []byte("127.0.0.1:47154: bind")) && bytes.Contains(b, []byte("10048")):
		// Other daemons on this machine hold all five; that the last one
		// was tried shows the fallback recognised WSAEADDRINUSE.
		t.Logf("47150–47154 are all taken here, and the daemon tried each: %s", bytes.TrimSpace(b))
	default:
		t.Fatalf("the daemon did not fall back from 47150:\n%s", b)
	}
}

// TestTray starts plain cardbridge (the tray with the server) and checks
// that the tray came up without a systray error.
func TestTray(t *testing.T) {
	need(t)
	port := freePort(t)
	logPath := startDaemon(t, "tray", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--module", standin, "--config", `C:\cardbridge-config`)
	c := dial(t, port)
	c.send("system.info", nil)
	c.recv()
	time.Sleep(3 * time.Second) // the tray sets its icon as the first card poll lands
	screenshot(t, "tray")
	b, _ := os.ReadFile(logPath)
	if bytes.Contains(b, []byte("systray error")) {
		t.Fatalf("the tray reported errors:\n%s", b)
	}
	if !bytes.Contains(b, []byte("cardbridge is listening")) {
		t.Fatalf("the tray's daemon did not start:\n%s", b)
	}
}
