package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
		for k, v := range entries[0].ContextMap() {
			switch k {
			case "origin", "via", "method", "code", "took":
			case "error": // what went wrong, for failures only
				if r.want != zapcore.InfoLevel || strings.Contains(v.(string), "AQID") {
					t.Errorf("%s: error field %q", r.method, v)
				}
			default:
				t.Errorf("%s: unexpected log field %q", r.method, k)
			}
		}
	}
}

// TestInternalErrorsStayInTheLog: a page learns the code and a short
// reason, never paths or program output.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	err := fmt.Errorf("read /home/alice/.config/cardbridge/x: %w", errors.New("permission denied"))
	pe := toProtocolError(err)
	if pe.Code != protocol.CodeInternal || strings.Contains(pe.Data.Reason, "/home") || strings.Contains(pe.Data.Reason, "permission") {
		t.Fatalf("internal error on the wire: %+v", pe.Data)
	}
}
