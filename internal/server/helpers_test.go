package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

const portal = "https://portal.example"

type testDaemon struct {
	t       testing.TB
	tok     *softhsm.Token
	tokens  *token.Manager
	port    int
	pinLog  string
	confDir string
	svc     *rpc.Service
	logs    *observer.ObservedLogs // with daemonOpts.observe
}

type daemonOpts struct {
	policy        *sites.Policy
	loginFault    func(string) uint
	promptTimeout time.Duration
	modules       []string
	quiet         bool     // no log: benchmarks
	origins       []string // allowed besides portal
	observe       bool     // keep the info log lines in testDaemon.logs
	limits        *Limits  // instead of DefaultLimits
	opTimeout     time.Duration
}

// startDaemon runs the real daemon stack in-process on a fresh SoftHSM2
// token, with the scripted pinentry standing in for the user.
func startDaemon(t testing.TB, o daemonOpts) *testDaemon {
	t.Helper()
	tok := softhsmtest.New(t, "card")
	d := &testDaemon{t: t, tok: tok, pinLog: filepath.Join(t.TempDir(), "pinentry.log"), confDir: t.TempDir()}
	t.Setenv("CB_TEST_PIN", softhsmtest.PIN)
	t.Setenv("CB_TEST_PINENTRY_LOG", d.pinLog)
	mods := append([]string{tok.Module}, o.modules...)
	m, err := token.Open(token.Options{Modules: mods, LoginFault: o.loginFault, OpTimeout: o.opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	d.tokens = m
	store, err := sites.Open(d.confDir, append([]string{portal}, o.origins...), o.policy)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../testdata/pinentry-script")
	if err != nil {
		t.Fatal(err)
	}
	p := pin.NewPinentry(script)
	p.Timeout = o.promptTimeout
	log := zaptest.NewLogger(t)
	if o.quiet {
		log = zap.NewNop()
	}
	if o.observe {
		var core zapcore.Core
		core, d.logs = observer.New(zapcore.InfoLevel)
		log = zap.New(zapcore.NewTee(log.Core(), core))
	}
	svc := rpc.New(rpc.Config{Tokens: m, Prompter: p, Sites: store, Log: log, Version: "test"})
	d.svc = svc
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.port = ln.Addr().(*net.TCPAddr).Port
	lim := DefaultLimits
	if o.limits != nil {
		lim = *o.limits
	}
	srv := newServer(svc, ln, log, lim)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		m.Close()
	})
	return d
}

func (d *testDaemon) url() string { return "ws://127.0.0.1:" + itoa(d.port) + "/v1" }

func itoa(n int) string { return jsonNum(n) }

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

// dial opens a WebSocket as a page on origin would.
func (d *testDaemon) dial(origin string) *client {
	d.t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, resp, err := websocket.DefaultDialer.Dial(d.url(), h)
	if err != nil {
		d.t.Fatalf("dial as %s: %v (%v)", origin, err, resp)
	}
	c := &client{t: d.t, ws: ws}
	d.t.Cleanup(func() { ws.Close() })
	return c
}

// prompts returns the dialogs the scripted user has seen so far.
func (d *testDaemon) prompts() []string {
	b, err := os.ReadFile(d.pinLog)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
	id int
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *protocol.Error `json:"error"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (c *client) send(method string, params any) int {
	c.t.Helper()
	c.id++
	msg := map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if err := c.ws.WriteJSON(msg); err != nil {
		c.t.Fatal(err)
	}
	return c.id
}

func (c *client) read() reply {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	var r reply
	if err := c.ws.ReadJSON(&r); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return r
}

// call sends a request and returns its answer, decoding a result into out.
func (c *client) call(method string, params, out any) *protocol.Error {
	c.t.Helper()
	c.send(method, params)
	r := c.read()
	for r.Method != "" {
		r = c.read() // a notification, not our answer
	}
	if r.Error != nil {
		return r.Error
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			c.t.Fatalf("%s result: %v", method, err)
		}
	}
	return nil
}

func (c *client) mustCall(method string, params, out any) {
	c.t.Helper()
	if err := c.call(method, params, out); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

func wantCode(t *testing.T, err *protocol.Error, code int) {
	t.Helper()
	if err == nil || err.Code != code {
		t.Fatalf("error = %v, want code %d", err, code)
	}
	if err.Data == nil || err.Data.Reason == "" {
		t.Fatalf("error %d has no reason", code)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
