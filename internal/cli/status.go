package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

// runStatus prints what cardbridge sees, for users and for support. It
// needs no PIN: private keys are listed by their public halves.
func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var modules listFlag
	fs.Var(&modules, "module", "PKCS#11 module `PATH` (or 'PATH;ARGS') to load (repeatable); default: auto-discovery")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := openTokens(modules)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(stdout, "cardbridge %s\n", version())
	if r, err := control.Ping(); err == nil {
		fmt.Fprintf(stdout, "Daemon: running (pid %d, %s), control socket %s\n", r.PID, r.Version, control.Path())
	} else {
		fmt.Fprintln(stdout, "Daemon: not running (start it with `cardbridge`, or let a portal open cardbridge://start)")
	}
	// Listing the readers waits for the modules to load (each at most the
	// scan timeout), so that Modules leaves out those that failed.
	readers := m.Readers()
	if len(m.Modules()) == 0 {
		fmt.Fprintln(stdout, noModuleHint)
		return nil
	}
	fmt.Fprintf(stdout, "Modules: %s\n", strings.Join(m.Modules(), ", "))
	if len(readers) == 0 {
		fmt.Fprintln(stdout, "No card readers.")
	}
	for _, r := range readers {
		fmt.Fprintf(stdout, "\nReader: %s (%s)\n", r.Name, r.Module)
		c := r.Card
		switch {
		case c == nil && r.Status == token.ReaderNotAnswering:
			fmt.Fprintln(stdout, "  not answering (its module did not answer in time)")
			continue
		case c == nil && r.Status == token.ReaderUnsupported:
			fmt.Fprintln(stdout, "  a card its module does not support")
			continue
		case c == nil:
			fmt.Fprintln(stdout, "  no card")
			continue
		}
		fmt.Fprintf(stdout, "  Card number: %s\n  Label: %s\n  Made by: %s %s\n  PIN: %s\n  Can generate: %s\n",
			c.Serial, c.Label, c.Manufacturer, c.Model, pinSummary(c.PIN), strings.Join(c.Algorithms, ", "))
		keys, err := m.Keys(context.Background(), c.Serial)
		if err != nil {
			fmt.Fprintf(stdout, "  Keys: cannot list: %v\n", err)
			continue
		}
		if len(keys) == 0 {
			fmt.Fprintln(stdout, "  Keys: none")
		}
		for _, k := range keys {
			if k.Unusable != "" {
				fmt.Fprintf(stdout, "  Key %s  unusable: %s\n", k.IDHex(), k.Unusable)
				continue
			}
			cert := "no certificate"
			if k.Certificate != nil {
				cert = "with certificate"
			}
			fmt.Fprintf(stdout, "  Key %s  %-8s %q, %s\n", k.IDHex(), k.Algorithm, k.Label, cert)
		}
	}
	return nil
}

// openTokens loads the named modules, or the discovered ones, for a
// command that works on cards without the daemon.
func openTokens(modules []string) (*token.Manager, error) {
	opts := token.Options{Modules: modules, Logger: zap.NewNop()}
	if len(modules) == 0 {
		opts.Discovered = token.Discover()
	}
	return token.Open(opts)
}

func pinSummary(p token.PINState) string {
	switch {
	case !p.Initialized:
		return "not set"
	case p.Locked:
		return "locked"
	case p.FinalTry:
		return "one try left"
	case p.CountLow:
		return "count low"
	}
	s := fmt.Sprintf("ready (%d to %d characters)", p.MinLength, p.MaxLength)
	if p.PINPad {
		s += ", entered on the reader's keypad"
	}
	return s
}
