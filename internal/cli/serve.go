package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cardbridge/cardbridge/internal/daemon"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/sites"
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

// startDaemon starts a daemon as the flags say, with the extra modules
// besides (the demo's SoftHSM2).
func startDaemon(c *serveConfig, log *zap.Logger, extra ...string) (*daemon.Daemon, error) {
	if c.config == "" {
		c.config = defaultConfigDir()
	}
	// CARDBRIDGE_LISTEN stands in for --listen where there are no flags:
	// a daemon started by a link or at login.
	if env := os.Getenv("CARDBRIDGE_LISTEN"); env != "" && c.listen == server.DefaultAddr {
		c.listen = env
	}
	prompter, dialogs := choosePrompter(c.pinentry, log)
	return daemon.Start(daemon.Config{
		Listen: c.listen, Modules: c.modules, Extra: extra, Origins: c.origins, ConfigDir: c.config, Policy: c.policy,
		Prompter: prompter, Dialogs: dialogs, RefusalMemory: c.refusalMemory, OnActivity: c.onActivity,
		Version: version(), Log: log,
	})
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
	d.Watch(nil)
	return d.Wait()
}
