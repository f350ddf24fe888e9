package server

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/gorilla/websocket"
)

// needTool fails under CI, and skips elsewhere, when a program is missing.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing", name)
		}
		t.Skipf("%s is missing", name)
	}
}

// startLimitedDaemon runs the real cardbridge binary with at most nofile
// descriptors, in a private runtime dir, and returns its WebSocket port.
func startLimitedDaemon(t *testing.T, nofile int) (port, pid int) {
	t.Helper()
	needTool(t, "prlimit")
	tok := softhsmtest.New(t, "storm")
	dir := t.TempDir()
	bin := filepath.Join(dir, "cardbridge")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/cardbridge").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	t.Setenv("XDG_RUNTIME_DIR", run)
	t.Setenv("HOME", dir)
	script, _ := filepath.Abs("../../testdata/pinentry-script")
	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	n := strconv.Itoa(nofile)
	cmd := exec.Command("prlimit", "--nofile="+n+":"+n, "--", bin, "serve", "--listen", "127.0.0.1:0", "--module", tok.Module,
		"--pinentry", script, "--config", filepath.Join(dir, "config"), "--allow-origin", portal)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr := regexp.MustCompile(`ws://127\.0\.0\.1:(\d+)/v1`)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if m := addr.FindSubmatch(b); m != nil {
			port, _ = strconv.Atoi(string(m[1]))
			return port, cmd.Process.Pid // prlimit runs the daemon in its own process
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("the daemon did not start:\n%s", b)
	return 0, 0
}

// works reports whether the daemon answers both on a WebSocket and on its
// control socket.
func works(port int) error {
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second}
	ws, _, err := d.Dial("ws://127.0.0.1:"+strconv.Itoa(port)+"/v1", http.Header{"Origin": {portal}})
	if err != nil {
		return err
	}
	defer ws.Close()
	ws.NetConn().SetDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "system.info"}); err != nil {
		return err
	}
	var r reply
	if err := ws.ReadJSON(&r); err != nil {
		return err
	}
	if r.Error != nil {
		return r.Error
	}
	_, err = control.Ping()
	return err
}

// TestDescriptorStorm runs a daemon limited to 128 descriptors, floods
// it with 150 WebSockets and 50 half-sent upgrades, and checks that it
// serves both the WebSocket and the control socket once they are gone.
func TestDescriptorStorm(t *testing.T) {
	port, pid := startLimitedDaemon(t, 128)
	if err := works(port); err != nil {
		t.Fatalf("before the storm: %v", err)
	}
	url := "ws://127.0.0.1:" + strconv.Itoa(port) + "/v1"
	var mu sync.Mutex
	var flood []net.Conn
	var wg sync.WaitGroup
	opened := 0
	for range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
			ws, _, err := d.Dial(url, http.Header{"Origin": {portal}})
			if err != nil {
				return
			}
			mu.Lock()
			flood, opened = append(flood, ws.NetConn()), opened+1
			mu.Unlock()
		}()
	}
	for range 50 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		c.Write([]byte("GET /v1 HTTP/1.1\r\nHost: 127.0.0.1:" + strconv.Itoa(port) + "\r\nUpgrade: web"))
		mu.Lock()
		flood = append(flood, c)
		mu.Unlock()
	}
	wg.Wait()
	t.Logf("%d of 150 WebSockets opened during the storm", opened)
	// More half-sent upgrades until the daemon holds all its
	// descriptors; then the control socket's accept fails too.
	fds := func() int { e, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); return len(e) }
	for i := 0; i < 100 && fds() < 127; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Write([]byte("GET /v1 HTTP/1.1\r\n"))
			flood = append(flood, c)
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := fds(); n < 127 {
		t.Fatalf("the daemon holds %d descriptors: the storm tested nothing", n)
	}
	for range 3 {
		if c, err := control.Dial(); err == nil {
			c.Write([]byte(`{"type":"ping"}` + "\n"))
			flood = append(flood, c)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range flood {
		c.Close()
	}
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = works(port); err == nil {
			return
		}
	}
	t.Fatalf("after the storm: %v", err)
}
