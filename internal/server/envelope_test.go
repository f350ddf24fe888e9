package server

import (
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/gorilla/websocket"
)

// Over a real socket: duplicate and case-variant keys, and a PIN anywhere
// in the frame, are refused with their code and no echoed id, and the
// connection goes on.
func TestStrictEnvelopeOverWebSocket(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	for frame, code := range map[string]int{
		`{"jsonrpc":"2.0","id":1,"method":"system.info","METHOD":"cards.list"}`:                protocol.CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":1,"method":"system.info","method":"cards.list"}`:                protocol.CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":1,"method":"keys.list","params":{"card":"1","Card":"2"}}`:       protocol.CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":1,"method":"system.info","pin":"123456"}`:                       protocol.CodeInvalidParams,
		`{"jsonrpc":"2.0","id":1,"method":"csr.create","params":{"subject":{"PIN":"123456"}}}`: protocol.CodeInvalidParams,
	} {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := c.read()
		if r.Error == nil || r.Error.Code != code || string(r.ID) != "null" {
			t.Fatalf("%s: %+v", frame, r)
		}
		if r.Error.Data != nil && len(r.Error.Data.Reason) > 0 && strings.Contains(r.Error.Data.Reason, "123456") {
			t.Fatalf("%s: the PIN was echoed: %s", frame, r.Error.Data.Reason)
		}
	}
	c.mustCall("system.info", nil, nil)
	if p := d.prompts(); len(p) != 0 {
		t.Fatalf("refused frames opened dialogs: %q", p)
	}
}
