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
	var lastErr error
	for i := 0; i < tries; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		if err == nil {
			return ln, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, lastErr)
}

// Server serves the API on one listener.
type Server struct {
	svc  *rpc.Service
	log  *zap.Logger
	port int
	http *http.Server
	up   websocket.Upgrader
}

// New returns a server for the API on ln.
func New(svc *rpc.Service, ln net.Listener, log *zap.Logger) *Server {
	s := &Server{svc: svc, log: log, port: ln.Addr().(*net.TCPAddr).Port}
	s.up = websocket.Upgrader{
		ReadBufferSize:  16 << 10,
		WriteBufferSize: 16 << 10,
		// Origin was checked before the upgrade, in ServeHTTP.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1", s.serveWS)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
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
	origin, err := sites.Canonical(r.Header.Get("Origin"))
	if err != nil {
		s.log.Warn("refused connection: bad origin", zap.String("origin", rpc.Truncate(r.Header.Get("Origin"), 256)))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	s.log.Debug("connected", zap.String("origin", origin))
	serveFrames(r.Context(), newWSFrames(ws), s.svc, rpc.Caller{Origin: origin, Via: "websocket"}, s.log)
}
