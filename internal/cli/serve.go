package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/pin"
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
	debug    bool
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", server.DefaultAddr, "loopback `ADDR` to listen on; for the default, the next 4 ports are tried when it is taken")
	fs.Var(&c.modules, "module", "PKCS#11 module `PATH` to load (repeatable); default: the modules registered with p11-kit and well-known OpenSC and vendor paths")
	fs.Var(&c.origins, "allow-origin", "`ORIGIN` approved in advance, e.g. https://portal.example (repeatable)")
	fs.StringVar(&c.pinentry, "pinentry", "", "pinentry program `PATH` for PIN and consent dialogs; default: pinentry-gnome3, pinentry-gtk-2, pinentry-qt or pinentry from PATH")
	fs.StringVar(&c.config, "config", "", "`DIR` for the user's decisions; default: the user config dir + /cardbridge")
	fs.BoolVar(&c.debug, "debug", false, "log debug messages")
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
	log    *zap.Logger
	tokens *token.Manager
	svc    *rpc.Service
	srv    *server.Server
	ln     net.Listener
	done   chan error
}

// Addr is the address the API is listening on.
func (d *daemon) Addr() string { return d.ln.Addr().String() }

func startDaemon(c *serveConfig, log *zap.Logger, extraModules ...string) (*daemon, error) {
	if c.config == "" {
		c.config = defaultConfigDir()
	}
	ln, err := server.Listen(c.listen)
	if err != nil {
		return nil, err
	}
	store, err := sites.Open(c.config, c.origins)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var prompter pin.Prompter
	path := c.pinentry
	if path == "" {
		if path, err = pin.FindPinentry(); err != nil {
			log.Warn("no pinentry program found; PIN dialogs will fail until one is installed (apt-get install pinentry-gnome3)")
		}
	}
	prompter = pin.NewPinentry(path)
	opts := token.Options{Modules: append(c.modules, extraModules...), Logger: log}
	if len(c.modules) == 0 {
		opts.Discovered = token.Discover()
	}
	tokens, err := token.Open(opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	svc := &rpc.Service{Tokens: tokens, Prompter: prompter, Sites: store, Log: log, Version: version()}
	d := &daemon{log: log, tokens: tokens, svc: svc, ln: ln, srv: server.New(svc, ln, log), done: make(chan error, 1)}
	go func() { d.done <- d.srv.Serve(ln) }()
	log.Info("cardbridge is listening", zap.String("addr", "ws://"+d.Addr()+"/v1"), zap.String("version", version()),
		zap.String("pinentry", path), zap.Strings("modules", tokens.Modules()))
	return d, nil
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

func (d *daemon) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
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
	return d.wait()
}
