package daemon

import (
	"bufio"
	"encoding/json"
	"net"
	"os"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/link"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/sites"
)

// controlHandler serves the control socket for a daemon.
type controlHandler struct{ d *Daemon }

func (h *controlHandler) Ping() control.Reply {
	return control.Reply{OK: true, Version: h.d.cfg.Version, PID: os.Getpid(), Addr: h.d.Addr()}
}

// Open carries out a cardbridge:// link. The only link is
// cardbridge://start, and by the time it reaches here the daemon runs:
// nothing is left to do but say so in the log (see internal/link).
func (h *controlHandler) Open(raw string) error {
	if err := link.Check(raw); err != nil {
		return err
	}
	h.d.log.Info("link: start")
	return nil
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
	server.ServeStream(h.d.ctx, c, r, h.d.svc, canon, h.d.log)
}
