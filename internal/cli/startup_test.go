package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/moduletest"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

func wsCall(t *testing.T, ws *websocket.Conn, id int, method string, params, out any) {
	t.Helper()
	if err := ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *protocol.Error `json:"error"`
	}
	if err := ws.ReadJSON(&r); err != nil {
		t.Fatal(err)
	}
	if r.Error != nil {
		t.Fatalf("%s: %v", method, r.Error)
	}
	if out != nil {
		json.Unmarshal(r.Result, out)
	}
}

// With a module whose C_Initialize, C_GetSlotList and C_GetTokenInfo each
// take 3 s, the daemon answers system.info at once, serves the SoftHSM2
// card, and names the slow module in cards.list. (The exact start-up
// figure is measured by `task bench`.)
func TestStartupWithSlowModule(t *testing.T) {
	e := newDesktopEnv(t)
	slow, _ := moduletest.SlowModule(t, 3000)
	cfg := &serveConfig{listen: "127.0.0.1:0", modules: listFlag{e.tok.Module, slow}, config: t.TempDir(),
		policy: filepath.Join(t.TempDir(), "policy.json")}
	t0 := time.Now()
	d, err := startDaemon(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+d.Addr()+"/v1", http.Header{"Origin": {"https://portal.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var info protocol.SystemInfo
	wsCall(t, ws, 1, "system.info", nil, &info)
	took := time.Since(t0)
	t.Logf("start to first system.info answer: %v", took)
	if took > 250*time.Millisecond || info.Name == "" {
		t.Fatalf("system.info answered after %v: %+v", took, info)
	}
	// The first look at the cards waits for the slow module at most the
	// scan timeout; then it is reported, and the other card is served.
	var cards protocol.CardsList
	wsCall(t, ws, 2, "cards.list", nil, &cards)
	var slowSeen, softSeen bool
	for _, r := range cards.Readers {
		slowSeen = slowSeen || (r.Module == "libslow-pkcs11.so" && r.Status == protocol.ReaderNotAnswering)
		softSeen = softSeen || (r.Card != nil && r.Card.Serial == e.tok.Serial)
	}
	if !slowSeen || !softSeen {
		t.Fatalf("cards.list = %+v", cards)
	}
	t1 := time.Now()
	wsCall(t, ws, 3, "keys.list", map[string]any{"card": e.tok.Serial}, nil)
	if d := time.Since(t1); d > 100*time.Millisecond {
		t.Fatalf("keys.list took %v with the slow module loading", d)
	}
}
