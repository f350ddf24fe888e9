// Package cli is cardbridge's command line: it parses arguments, wires the
// packages together and runs a subcommand. cmd/cardbridge only calls Main.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"tray", "the API server with a tray icon (what plain `cardbridge` runs)", runTray},
		{"serve", "run the API server (WebSocket on 127.0.0.1:47150) without a tray", runServe},
		{"demo", "run the server with a demo card and a demo portal page", runDemo},
		{"status", "print the readers, cards and keys cardbridge sees", runStatus},
		{"import-p12", "put a .p12/.pfx bundle (key, certificate, chain) onto a card", runImportP12},
		{"open", "hand a cardbridge:// link to cardbridge, starting it if needed", runOpen},
		{"install", "register the cardbridge:// handler, start at login and browser hosts (--user)", runInstall},
		{"uninstall", "remove what install registered", runUninstall},
		{"native-host", "relay for the browser extension (browsers start it)", runNativeHost},
		{"version", "print the version", func(_ []string, stdout, _ io.Writer) error {
			fmt.Fprintf(stdout, "cardbridge %s\n", version())
			return nil
		}},
	}
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if isNativeHostInvocation(args) {
		if err := runNativeHost(args, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "cardbridge native-host: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		return 0
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// Plain `cardbridge [flags]` is the tray with the server.
		args = append([]string{"tray"}, args...)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			if err != nil {
				fmt.Fprintf(stderr, "cardbridge %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "cardbridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "cardbridge connects web portals to the smart cards on this computer.")
	fmt.Fprintln(w, "\nUsage: cardbridge <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cardbridge <command> -h' for the flags of a command.")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
