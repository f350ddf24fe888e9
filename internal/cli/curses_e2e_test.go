package cli

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/gorilla/websocket"
)

// TestPINInTheTerminal types the PIN into the real pinentry-curses, drawn
// in a terminal (tmux) the way a person at a terminal meets it: cardbridge
// must hand the dialog its terminal and let it read the keys.
func TestPINInTheTerminal(t *testing.T) {
	for _, tool := range []string{"tmux", "pinentry-curses"} {
		if _, err := exec.LookPath(tool); err != nil {
			softhsmtest.Missing(t, err) // CI installs both
		}
	}
	e := newDesktopEnv(t)
	t.Setenv("CARDBRIDGE_PINENTRY", "")
	pinentry, _ := exec.LookPath("pinentry-curses")
	// A free port: another program may hold any fixed one.
	_, port, _ := strings.Cut(os.Getenv("CARDBRIDGE_LISTEN"), ":")
	session := "cardbridge-test-" + strconv.Itoa(int(time.Now().UnixNano()%100000))
	cmd := fmt.Sprintf("env -u DISPLAY TERM=xterm %q serve --listen 127.0.0.1:%s --module %q --pinentry %q --config %q --allow-origin https://portal.example; sleep 30",
		bin, port, e.tok.Module, pinentry, e.home+"/cfg")
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	defer exec.Command("tmux", "kill-session", "-t", session).Run()
	screen := func() string {
		out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		return string(out)
	}
	var ws *websocket.Conn
	for deadline := time.Now().Add(10 * time.Second); ws == nil; time.Sleep(50 * time.Millisecond) {
		ws, _, _ = websocket.DefaultDialer.Dial("ws://127.0.0.1:"+port+"/v1", http.Header{"Origin": {"https://portal.example"}})
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start:\n%s", screen())
		}
	}
	defer ws.Close()
	ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "keys.generate", "params": map[string]any{"algorithm": "EC-P256"}})
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(screen(), "PIN:"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no PIN dialog in the terminal:\n%s", screen())
		}
	}
	if s := screen(); !strings.Contains(s, "https://portal.example wants to create a new EC-P256 key pair") {
		t.Fatalf("dialog:\n%s", s)
	}
	exec.Command("tmux", "send-keys", "-t", session, softhsmtest.PIN, "Enter").Run()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	var resp struct {
		Result *struct{ KeyID string }
		Error  any
	}
	if err := ws.ReadJSON(&resp); err != nil || resp.Result == nil || resp.Result.KeyID == "" {
		t.Fatalf("keys.generate: %+v %v\n%s", resp, err, screen())
	}
	// A batch sign: its dialog, too, is drawn on the terminal.
	digests := make([][]byte, 10)
	for i := range digests {
		sum := sha256.Sum256([]byte{byte(i)})
		digests[i] = sum[:]
	}
	ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "sign", "params": map[string]any{"keyId": resp.Result.KeyID, "algorithm": "ECDSA-SHA256", "digests": digests}})
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(screen(), "sign 10 documents"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no PIN dialog for the batch in the terminal:\n%s", screen())
		}
	}
	exec.Command("tmux", "send-keys", "-t", session, softhsmtest.PIN, "Enter").Run()
	var signed struct {
		Result *struct{ Signatures [][]byte }
		Error  any
	}
	if err := ws.ReadJSON(&signed); err != nil || signed.Result == nil || len(signed.Result.Signatures) != len(digests) {
		t.Fatalf("sign: %+v %v\n%s", signed, err, screen())
	}
}
