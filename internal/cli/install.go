package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/cardbridge/cardbridge/internal/desktop"
)

func runInstall(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("user", true, "install for the current user (needs no administrator)")
	root := fs.String("package-root", "", "write the system-wide files of a Linux package under `DIR` instead (for packagers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root != "" {
		steps, err := desktop.SystemFiles(*root, "/usr/bin/cardbridge")
		for _, s := range steps {
			fmt.Fprintf(stdout, "  %-22s %s\n", s.What, s.Where)
		}
		return err
	}
	steps, err := desktop.Install(desktop.Options{})
	for _, s := range steps {
		fmt.Fprintf(stdout, "  %-22s %s\n", s.What, s.Where)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "cardbridge is installed: portals can open cardbridge:// links, and it starts at login.")
	return nil
}

func runUninstall(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("uninstall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("user", true, "uninstall for the current user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := desktop.Uninstall(desktop.Options{}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "cardbridge's URL handler, autostart and browser registrations are removed.")
	return nil
}
