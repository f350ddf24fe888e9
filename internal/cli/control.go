package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/link"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/sites"
	"go.uber.org/zap"
)

// controlHandler serves the control socket for a daemon.
type controlHandler struct {
	d   *daemon
	ctx context.Context
}

func (h *controlHandler) Ping() control.Reply {
	return control.Reply{OK: true, Version: version(), PID: os.Getpid(), Addr: h.d.Addr()}
}

// Open carries out a cardbridge:// link. A method link runs in the
// background and its answer goes to the callback, so that `cardbridge
// open` can exit at once.
func (h *controlHandler) Open(raw string) error {
	l, err := link.Parse(raw)
	if err != nil {
		return err
	}
	if l.Start {
		h.d.log.Info("link: start")
		return nil
	}
	go h.runLink(l)
	return nil
}

func (h *controlHandler) runLink(l *link.Link) {
	req := &protocol.Request{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: l.Method, Params: l.Params}
	resp := h.d.svc.Handle(h.ctx, rpc.Caller{Origin: l.Origin, Via: "link"}, req)
	body, err := json.Marshal(resp)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, 15*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.Callback.String(), bytes.NewReader(body))
	if err != nil {
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	// Redirects could carry the answer to another origin.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(hreq)
	if err != nil {
		h.d.log.Warn("link: callback failed", zap.String("origin", l.Origin), zap.String("method", l.Method), zap.Error(err))
		return
	}
	res.Body.Close()
	h.d.log.Info("link: answered", zap.String("origin", l.Origin), zap.String("method", l.Method), zap.Int("status", res.StatusCode))
}

// Session relays a browser extension's requests, with the page origin the
// browser attested to the native host. Only this user can reach the
// socket, which is why the origin is believed.
func (h *controlHandler) Session(origin string, c net.Conn, r *bufio.Reader) {
	canon, err := sites.Canonical(origin)
	if err != nil {
		b, _ := json.Marshal(protocol.NewResponse(nil, nil, protocol.Errorf(protocol.CodeOriginDenied, "%v", err)))
		control.WriteLine(c, b)
		return
	}
	server.ServeStream(h.ctx, c, r, h.d.svc, canon, h.d.log)
}
