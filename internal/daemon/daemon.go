// Package daemon assembles a running cardbridge: the loopback WebSocket
// server, the user's control socket, the PKCS#11 modules and the JSON-RPC
// service behind both. The command line (internal/cli) turns flags into a
// Config; the tray and the demo portal drive what Start returns.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

// Config is what a daemon is made of.
type Config struct {
	Listen string // loopback address; server.DefaultAddr tries the next 4 ports too
	// Modules are the PKCS#11 modules the user named (PATH or 'PATH;ARGS');
	// without any, the modules p11-kit would load for cardbridge are.
	Modules []string
	// Extra are modules loaded besides, whatever the user named (the
	// demo's SoftHSM2).
	Extra         []string
	Origins       []string // sites allowed in advance
	ConfigDir     string   // where the user's decisions are kept
	Policy        string   // machine policy file; "" for the default
	Prompter      pin.Prompter
	Dialogs       string // what shows the dialogs, for the log
	RefusalMemory time.Duration
	OnActivity    func(busy bool) // the tray's busy icon
	Version       string
	Log           *zap.Logger
}

// Daemon is a running API server and what it owns.
type Daemon struct {
	cfg    Config
	log    *zap.Logger
	tokens *token.Manager
	svc    *rpc.Service
	srv    *server.Server
	ln     net.Listener
	ctrl   net.Listener
	stop   context.CancelFunc
	ctx    context.Context
	done   chan error
	closed sync.Once
}

// Start checks and binds the address first, so that a bad one is reported
// as such even while another daemon runs, then takes the control socket
// (one daemon per user), and serves. The modules load in the background:
// the server answers at once, and a slow module holds up only its cards.
func Start(cfg Config) (*Daemon, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	policy, policyPath, err := sites.LoadMachinePolicy(cfg.Policy)
	if err != nil {
		return nil, err
	}
	ln, err := server.Listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	ctrl, err := control.Listen()
	if errors.Is(err, control.ErrRunning) {
		ln.Close()
		if r, perr := control.Ping(); perr == nil {
			return nil, fmt.Errorf("%w (pid %d); stop it first, or open cardbridge://start to use it", err, r.PID)
		}
		return nil, err
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	fail := func(err error) (*Daemon, error) {
		ln.Close()
		ctrl.Close()
		return nil, err
	}
	store, err := sites.Open(cfg.ConfigDir, cfg.Origins, policy)
	if err != nil {
		return fail(err)
	}
	opts, err := moduleOptions(cfg, policy, policyPath)
	if err != nil {
		return fail(err)
	}
	tokens, err := token.Open(opts)
	if err != nil {
		return fail(err)
	}
	svc := rpc.New(rpc.Config{Tokens: tokens, Prompter: cfg.Prompter, Sites: store, Log: cfg.Log, Version: cfg.Version,
		OnActivity: cfg.OnActivity, RefusalMemory: cfg.RefusalMemory})
	ctx, stop := context.WithCancel(context.Background())
	d := &Daemon{cfg: cfg, log: cfg.Log, tokens: tokens, svc: svc, ln: ln, ctrl: ctrl, stop: stop, ctx: ctx,
		srv: server.New(svc, ln, cfg.Log), done: make(chan error, 2)}
	go func() { d.done <- d.srv.Serve(ln) }()
	go control.Serve(ctrl, &controlHandler{d: d})
	d.log.Info("cardbridge is listening", zap.String("addr", "ws://"+d.Addr()+"/v1"), zap.String("version", cfg.Version),
		zap.String("pinentry", cfg.Dialogs), zap.Strings("modules", tokens.Modules()), zap.String("control", control.Path()))
	return d, nil
}

// moduleOptions says which modules load: the user's (unless the machine
// policy is locked), the extra ones, and the discovered ones when the user
// named none; every one only if the policy allows it.
func moduleOptions(cfg Config, policy *sites.Policy, policyPath string) (token.Options, error) {
	opts := token.Options{Logger: cfg.Log}
	for _, m := range append(slices.Clone(cfg.Modules), cfg.Extra...) {
		if policy.Locked && slices.Contains(cfg.Modules, m) {
			continue // the user's --module counts for nothing under a locked policy
		}
		if !policy.ModuleAllowed(token.ModulePath(m)) {
			return opts, fmt.Errorf("module %s is not allowed by the policy in %s", m, policyPath)
		}
		opts.Modules = append(opts.Modules, m)
	}
	if len(cfg.Modules) == 0 || policy.Locked {
		for _, m := range token.Discover() {
			if policy.ModuleAllowed(token.ModulePath(m)) {
				opts.Discovered = append(opts.Discovered, m)
			}
		}
	}
	return opts, nil
}

// Addr is the address the API is listening on.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// Port is the port the API is listening on.
func (d *Daemon) Port() int { return d.ln.Addr().(*net.TCPAddr).Port }

// Tokens is the daemon's view of the cards.
func (d *Daemon) Tokens() *token.Manager { return d.tokens }

// Service runs the daemon's methods, for the tray's own requests.
func (d *Daemon) Service() *rpc.Service { return d.svc }

// Log is the daemon's log.
func (d *Daemon) Log() *zap.Logger { return d.log }

// Watch starts polling the readers; onCards (the tray) hears every change.
// Without it, the daemon polls only while a page is subscribed.
func (d *Daemon) Watch(onCards func(protocol.CardsList)) {
	go d.svc.Watch(d.ctx, 500*time.Millisecond, onCards)
}

// Wait runs until a signal or a server failure, then shuts down.
func (d *Daemon) Wait() error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	var err error
	select {
	case s := <-sig:
		d.log.Info("shutting down", zap.String("signal", s.String()))
	case err = <-d.done:
	}
	d.Close()
	return err
}

// Close shuts the daemon down; later calls do nothing.
func (d *Daemon) Close() { d.closed.Do(d.shutdown) }

func (d *Daemon) shutdown() {
	d.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.ctrl.Close()
	d.srv.Shutdown(ctx)
	d.tokens.Close()
	d.log.Sync()
}
