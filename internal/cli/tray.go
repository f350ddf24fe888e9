package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/daemon"
	"github.com/cardbridge/cardbridge/internal/desktop"
	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/cardbridge/cardbridge/internal/token"
	"github.com/cardbridge/cardbridge/internal/tray"
	"go.uber.org/zap"
)

// runTray is plain `cardbridge`: the API server with a tray icon.
func runTray(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cardbridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(c.debug)
	tc := &trayCore{updates: make(chan tray.State, 1)}
	c.onActivity = tc.activity
	d, err := startDaemon(&c, log)
	if err != nil {
		return err
	}
	tc.d = d
	d.Watch(func(l protocol.CardsList) {
		exp := expiring(d.Tokens(), l)
		tc.set(func(s *tray.State) { s.Readers, s.Expiring = l.Readers, exp })
	})
	go func() {
		// A signal or a server failure ends the tray too.
		d.Wait()
		tray.Stop()
	}()
	tray.Run(tc, tc.updates)
	d.Close()
	return nil
}

// trayCore is the daemon as the tray sees it.
type trayCore struct {
	d       *daemon.Daemon
	mu      sync.Mutex
	state   tray.State
	updates chan tray.State
}

// set changes the state and hands the tray the result. The channel holds
// one state; a newer one replaces a state the tray has not read yet, under
// the lock, so the tray always ends on the latest state and never on an
// older one that lost a race.
func (t *trayCore) set(f func(*tray.State)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.state)
	s := t.state
	s.Readers = slices.Clone(s.Readers)
	s.Expiring = slices.Clone(s.Expiring)
	select {
	case <-t.updates:
	default:
	}
	t.updates <- s
}

// activity hears the service say whether a dialog or card operation is
// under way. The service calls it in order (see rpc.Config.OnActivity);
// set keeps that order up to the tray.
func (t *trayCore) activity(busy bool) {
	t.set(func(s *tray.State) { s.Busy = busy })
}

func (t *trayCore) Version() string                { return version() }
func (t *trayCore) Sites() []string                { return t.d.Service().Sites().List() }
func (t *trayCore) RemoveSite(origin string) error { return t.d.Service().Sites().Remove(origin) }
func (t *trayCore) SitesLocked() bool              { return t.d.Service().Sites().Policy().Locked }
func (t *trayCore) Autostart() bool                { return desktop.AutostartEnabled(desktop.Options{}) }

func (t *trayCore) SetAutostart(on bool) error {
	if t.d.Service().Sites().Policy().Locked {
		return nil
	}
	_, err := desktop.SetAutostart(desktop.Options{}, on)
	return err
}

// ChangePIN runs the service's Change PIN dialogs and tells the user how
// it ended: the dialogs close either way, and silence reads as failure.
func (t *trayCore) ChangePIN(serial string) {
	err := t.d.Service().ChangePIN(context.Background(), rpc.Caller{Origin: "cardbridge (tray)", Via: "tray"}, serial)
	if err != nil {
		t.d.Log().Warn("change PIN from the tray", zap.String("token_serial", serial), zap.Error(err))
	}
	summary, body, ok := pinOutcome(serial, err)
	if !ok {
		return
	}
	if err := tray.Notify(summary, body); err != nil {
		t.d.Log().Warn("could not show a notification", zap.Error(err))
	}
}

// pinOutcome words the end of a Change PIN for a notification; ok is
// false when the user cancelled and needs no word.
func pinOutcome(serial string, err error) (summary, body string, ok bool) {
	card := "card " + protocol.GroupSerial(serial)
	var wrong *token.PINIncorrectError
	switch {
	case err == nil:
		return "PIN changed", "The PIN of " + card + " was changed. Use the new PIN from now on.", true
	case errors.Is(err, pin.ErrCancelled), errors.Is(err, token.ErrCancelled):
		return "", "", false
	case errors.As(err, &wrong) && wrong.BadLength:
		return "PIN not changed", fmt.Sprintf("The PIN of %s must be %d to %d characters long. Nothing was changed.", card, wrong.Min, wrong.Max), true
	case errors.As(err, &wrong):
		body := "The current PIN was wrong, so the PIN of " + card + " was not changed."
		if wrong.FinalTry {
			body += " Careful: one more wrong PIN locks the card."
		}
		return "PIN not changed", body, true
	case errors.Is(err, token.ErrPINLocked):
		return "PIN locked", "The PIN of " + card + " is locked. Unblock it with the PUK.", true
	case errors.Is(err, pin.ErrTimeout):
		return "PIN not changed", "The dialog closed because nobody answered. Nothing was changed.", true
	}
	return "PIN not changed", "The PIN of " + card + " was not changed: " + err.Error(), true
}

func (t *trayCore) OpenLogFolder() {
	os.MkdirAll(logDir(), 0o700)
	opener := "xdg-open"
	switch runtime.GOOS {
	case "darwin":
		opener = "open"
	case "windows":
		opener = "explorer"
	}
	exec.Command(opener, logDir()).Start()
}

func (t *trayCore) Quit() {
	t.d.Log().Info("quit from the tray")
	tray.Stop()
}

// expiring lists user certificates on the cards that expire within 30
// days, for the tray's reminder.
func expiring(m *token.Manager, l protocol.CardsList) []tray.Expiring {
	var out []tray.Expiring
	soon := time.Now().Add(30 * 24 * time.Hour)
	for _, r := range l.Readers {
		if r.Card == nil {
			continue
		}
		m.Do(context.Background(), r.Card.Serial, nil, func(s *token.Session) error {
			certs, err := s.Certificates()
			if err != nil {
				return err
			}
			for _, sc := range certs {
				c, err := x509.ParseCertificate(sc.DER)
				if err != nil || c.IsCA || sc.Category == 2 || c.NotAfter.After(soon) {
					continue
				}
				out = append(out, tray.Expiring{Card: r.Card.Serial, Subject: c.Subject.CommonName, NotAfter: c.NotAfter})
			}
			return nil
		})
	}
	return out
}
