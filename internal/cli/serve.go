package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

// serveConfig holds the flags shared by serve and demo.
type serveConfig struct {
	listen   string
	modules  listFlag
	origins  listFlag
	pinentry string
	config   string
	policy   string
	debug    bool
	// refusalMemory: how long a refused site is not asked again.
	refusalMemory time.Duration

	// onActivity is the tray's busy icon; not a flag.
	onActivity func(busy bool)
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", server.DefaultAddr, "loopback `ADDR` to listen on; for the default, the next 4 ports are tried when it is taken")
	fs.Var(&c.modules, "module", "PKCS#11 module `PATH` to load, or 'PATH;ARGS' for one that needs initialisation arguments (NSS softokn) (repeatable); default: the modules p11-kit would load for cardbridge, and well-known OpenSC and vendor paths")
	fs.Var(&c.origins, "allow-origin", "`ORIGIN` approved in advance, e.g. https://portal.example (repeatable)")
	fs.StringVar(&c.pinentry, "pinentry", "", pinentryHelp)
	fs.StringVar(&c.config, "config", "", "`DIR` for the user's decisions; default: the user config dir + /cardbridge")
	fs.StringVar(&c.policy, "policy", "", "machine policy `FILE`; default: "+sites.DefaultPolicyPath())
	fs.BoolVar(&c.debug, "debug", false, "log debug messages")
	fs.DurationVar(&c.refusalMemory, "refusal-memory", time.Minute, "how long a site you refused is refused again without asking `DURATION`")
}

func defaultConfigDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ".cardbridge"
	}
	return filepath.Join(dir, "cardbridge")
}

// daemon is a running API server and what it owns.
type daemon struct {
	log      *zap.Logger
	tokens   *token.Manager
	svc      *rpc.Service
	srv      *server.Server
	ln       net.Listener
	ctrl     net.Listener
	stop     context.CancelFunc
	done     chan error
	closed   sync.Once
	watchCtx context.Context
	pinentry string
}

// Addr is the address the API is listening on.
func (d *daemon) Addr() string { return d.ln.Addr().String() }

func startDaemon(c *serveConfig, log *zap.Logger, extraModules ...string) (*daemon, error) {
	if c.config == "" {
		c.config = defaultConfigDir()
	}
	policy, policyPath, err := sites.LoadMachinePolicy(c.policy)
	c.policy = policyPath
	if err != nil {
		return nil, err
	}
	// CARDBRIDGE_LISTEN stands in for --listen where there are no flags:
	// a daemon started by a link or at login.
	if env := os.Getenv("CARDBRIDGE_LISTEN"); env != "" && c.listen == server.DefaultAddr {
		c.listen = env
	}
	// The address is checked (and bound) first, so that a bad flag is
	// reported as such even while another daemon runs.
	ln, err := server.Listen(c.listen)
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
	fail := func(err error) (*daemon, error) {
		ln.Close()
		ctrl.Close()
		return nil, err
	}
	store, err := sites.Open(c.config, c.origins, policy)
	if err != nil {
		return fail(err)
	}
	prompter, dialogs := choosePrompter(c.pinentry, log)
	opts := token.Options{Logger: log}
	for _, m := range append(c.modules, extraModules...) {
		if policy.Locked && slices.Contains(c.modules, m) {
			continue // the user's --module counts for nothing under a locked policy
		}
		if !policy.ModuleAllowed(token.ModulePath(m)) {
			return fail(fmt.Errorf("module %s is not allowed by the policy in %s", m, c.policy))
		}
		opts.Modules = append(opts.Modules, m)
	}
	if len(c.modules) == 0 || policy.Locked {
		for _, m := range token.Discover() {
			if policy.ModuleAllowed(token.ModulePath(m)) {
				opts.Discovered = append(opts.Discovered, m)
			}
		}
	}
	// The modules load in the background: the server accepts connections
	// (and answers system.info) at once, and a slow module holds up only
	// its own cards.
	tokens, err := token.Open(opts)
	if err != nil {
		return fail(err)
	}
	svc := rpc.New(rpc.Config{Tokens: tokens, Prompter: prompter, Sites: store, Log: log, Version: version(), OnActivity: c.onActivity, RefusalMemory: c.refusalMemory})
	ctx, stop := context.WithCancel(context.Background())
	d := &daemon{log: log, tokens: tokens, svc: svc, ln: ln, ctrl: ctrl, stop: stop, srv: server.New(svc, ln, log), done: make(chan error, 2), pinentry: dialogs, watchCtx: ctx}
	defer d.logStart()
	go func() { d.done <- d.srv.Serve(ln) }()
	go control.Serve(ctrl, &controlHandler{d: d, ctx: ctx})
	return d, nil
}

// watch starts polling the readers; onCards (the tray) hears every change.
// Without it, the daemon polls only while a page is subscribed.
func (d *daemon) watch(onCards func(protocol.CardsList)) {
	go d.svc.Watch(d.watchCtx, 500*time.Millisecond, onCards)
}

func (d *daemon) logStart() {
	d.log.Info("cardbridge is listening", zap.String("addr", "ws://"+d.Addr()+"/v1"), zap.String("version", version()),
		zap.String("pinentry", d.pinentry), zap.Strings("modules", d.tokens.Modules()), zap.String("control", control.Path()))
}

// wait runs until a signal or a server failure, then shuts down.
func (d *daemon) wait() error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	var err error
	select {
	case s := <-sig:
		d.log.Info("shutting down", zap.String("signal", s.String()))
	case err = <-d.done:
	}
	d.close()
	return err
}

func (d *daemon) close() { d.closed.Do(d.shutdown) }

func (d *daemon) shutdown() {
	d.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.ctrl.Close()
	d.srv.Shutdown(ctx)
	d.tokens.Close()
	d.log.Sync()
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log := newLogger(c.debug)
	d, err := startDaemon(&c, log)
	if err != nil {
		return err
	}
	d.watch(nil)
	return d.wait()
}
