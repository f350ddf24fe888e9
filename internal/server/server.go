// Package server is cardbridge's WebSocket transport: a loopback-only HTTP
// listener whose /v1 endpoint upgrades to a JSON-RPC WebSocket after the
// Host and Origin checks.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// DefaultAddr is where cardbridge listens unless told otherwise; the next
// FallbackPorts are tried in turn when it is taken.
const (
	DefaultAddr   = "127.0.0.1:47150"
	FallbackPorts = 4
)

// ErrNotLoopback refuses a listen address that other machines could reach.
var ErrNotLoopback = errors.New("cardbridge listens on loopback addresses only")

// Listen binds addr, which must be a loopback address. For DefaultAddr it
// falls back to the next ports when the first is taken.
func Listen(addr string) (net.Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1" // never trust a resolver for this
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q: %w", addr, ErrNotLoopback)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", addr)
	}
	tries := 1
	if addr == DefaultAddr {
		tries += FallbackPorts
	}
	ln, err := listenTries(host, port, tries)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// listenTries binds host:port, or the next port while the one tried is
// taken, tries ports in all.
func listenTries(host string, port, tries int) (net.Listener, error) {
	var lastErr error
	for i := 0; i < tries && port+i <= 65535; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		if err == nil {
			return ln, nil
		}
		lastErr = err
		if !addrInUse(err) {
			break
		}
	}
	return nil, lastErr
}

// addrInUse reports a port taken by another socket. Windows reports it as
// WSAEADDRINUSE (10048), which is not syscall.EADDRINUSE there.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.Errno(wsaeAddrInUse))
}

// wsaeAddrInUse is Winsock's "address already in use"; on other systems
// no error has this number.
const wsaeAddrInUse = 10048

// Server serves the API on one listener.
type Server struct {
	svc    *rpc.Service
	log    *zap.Logger
	port   int
	http   *http.Server
	up     websocket.Upgrader
	lim    Limits
	budget *budget
	conns  connCount
}

// New returns a server for the API on ln, with DefaultLimits.
func New(svc *rpc.Service, ln net.Listener, log *zap.Logger) *Server {
	return newServer(svc, ln, log, DefaultLimits)
}

func newServer(svc *rpc.Service, ln net.Listener, log *zap.Logger, lim Limits) *Server {
	s := &Server{svc: svc, log: log, port: ln.Addr().(*net.TCPAddr).Port, lim: lim, budget: newBudget(lim.MaxBytesInFlight)}
	s.up = websocket.Upgrader{
		// Reading reuses the HTTP server's 4 KiB buffer, and writing
		// borrows a buffer only while it writes: an idle page costs
		// little.
		ReadBufferSize:  0,
		WriteBufferSize: 16 << 10,
		WriteBufferPool: &sync.Pool{},
		// Origin was checked before the upgrade, in serveWS.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1", s.serveWS)
	// net/http's accept loop waits and retries on temporary errors such
	// as EMFILE, and half-sent requests are cut by ReadHeaderTimeout.
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		ErrorLog: zap.NewStdLog(log.WithOptions(zap.IncreaseLevel(zap.WarnLevel)))}
	return s
}

// Serve serves until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and closes open ones.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !sites.HostOK(r.Host, s.port) {
		s.log.Warn("refused connection: bad host", zap.String("host", rpc.Truncate(r.Host, 256)))
		http.Error(w, "host not allowed", http.StatusForbidden)
		return
	}
	if err := peerOf(r); err != nil {
		s.log.Warn("refused connection: not from this user, or the owner of its socket is unknown", zap.Error(err))
		http.Error(w, "connections from other users are not allowed", http.StatusForbidden)
		return
	}
	origin, err := sites.Canonical(r.Header.Get("Origin"))
	if err != nil {
		s.log.Warn("refused connection: bad origin", zap.String("origin", rpc.Truncate(r.Header.Get("Origin"), 256)))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if perr := s.conns.take(origin, s.lim); perr != nil {
		s.log.Warn("refused connection: too many", zap.String("origin", origin))
		http.Error(w, perr.Data.Reason, http.StatusServiceUnavailable)
		return
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		s.conns.drop(origin)
		return // the upgrader has answered
	}
	s.log.Debug("connected", zap.String("origin", origin))
	st := &connState{}
	serveFrames(r.Context(), newWSFrames(ws, s.lim, s.budget, st), st, s.budget, s.svc, rpc.Caller{Origin: origin, Via: "websocket"}, s.log)
	s.conns.drop(origin)
}

// peerOf checks that the client of r runs as this user.
func peerOf(r *http.Request) error {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return errors.New("no local address")
	}
	remote, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return err
	}
	return checkPeer(local, remote)
}
