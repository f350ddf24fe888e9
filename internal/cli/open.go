package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/link"
)

// runOpen is what the system runs for a cardbridge:// link. It hands the
// link to the running daemon, starting one first if there is none, and
// exits.
func runOpen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: cardbridge open cardbridge://…")
	}
	raw := fs.Arg(0)
	// A link other than cardbridge://start is refused here, before
	// anything is started.
	if err := link.Check(raw); err != nil {
		return err
	}
	err := control.Open(raw)
	if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	if err := spawnDaemon(); err != nil {
		return err
	}
	return control.Open(raw)
}

// spawnDaemon starts cardbridge in the background, detached from this
// process, and waits until it answers on the control socket.
func spawnDaemon() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"serve"}
	if graphicalSession() {
		args = nil // the tray with the server
	}
	if err := os.MkdirAll(logDir(), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(logDir(), "cardbridge.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Never the caller's directory (a browser's, or a source tree):
	// modules write files where they run (tpm2-pkcs11's database).
	cmd.Dir = logDir()
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cardbridge: %w", err)
	}
	go cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := control.Ping(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("cardbridge did not start; see %s", filepath.Join(logDir(), "cardbridge.log"))
}

// graphicalSession reports a desktop where a tray icon can be shown.
func graphicalSession() bool {
	switch runtime.GOOS {
	case "windows", "darwin":
		return true
	}
	return (os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "") && os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""
}

// logDir is where a daemon started in the background writes its log.
func logDir() string {
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "cardbridge", "logs")
		}
	case "darwin":
		return filepath.Join(home, "Library", "Logs", "cardbridge")
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cardbridge")
	}
	return filepath.Join(home, ".local", "state", "cardbridge")
}
