package rpc

import (
	"context"
	"encoding/json"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// TestAuditLevels: a successful read-only request is a debug line, a
// failed one and any other method an info line; none carries params.
func TestAuditLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := New(Config{Log: zap.New(core)})
	c := Caller{Origin: "https://portal.example", Via: "websocket"}
	for _, r := range []struct {
		method, params string
		want           zapcore.Level
	}{
		{protocol.MethodSystemInfo, `{}`, zapcore.DebugLevel},
		{protocol.MethodSystemInfo, `{"secret":"AQID"}`, zapcore.InfoLevel}, // invalid params: a failure
		{"no.such.method", `{}`, zapcore.InfoLevel},
	} {
		s.Handle(context.Background(), c, &protocol.Request{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: r.method, Params: json.RawMessage(r.params)})
		entries := logs.TakeAll()
		if len(entries) != 1 || entries[0].Message != "request" || entries[0].Level != r.want {
			t.Fatalf("%s %s: logged %+v, want one %v request line", r.method, r.params, entries, r.want)
		}
		for k := range entries[0].ContextMap() {
			if k != "origin" && k != "via" && k != "method" && k != "code" && k != "took" {
				t.Errorf("%s: unexpected log field %q", r.method, k)
			}
		}
	}
}
