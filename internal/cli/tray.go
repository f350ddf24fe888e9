package cli

import (
	"context"
	"crypto/x509"
	"flag"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/desktop"
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
	tc := &trayCore{updates: make(chan tray.State, 4)}
	c.onActivity = func(busy bool) { tc.set(func(s *tray.State) { s.Busy = busy }) }
	d, err := startDaemon(&c, log)
	if err != nil {
		return err
	}
	tc.d = d
	d.watch(func(l protocol.CardsList) {
		exp := expiring(d.tokens, l)
		tc.set(func(s *tray.State) { s.Readers, s.Expiring = l.Readers, exp })
	})
	go func() {
		// A signal or a server failure ends the tray too.
		d.wait()
		tray.Stop()
	}()
	tray.Run(tc, tc.updates)
	d.close()
	return nil
}

// trayCore is the daemon as the tray sees it.
type trayCore struct {
	d       *daemon
	mu      sync.Mutex
	state   tray.State
	updates chan tray.State
}

func (t *trayCore) set(f func(*tray.State)) {
	t.mu.Lock()
	f(&t.state)
	s := t.state
	t.mu.Unlock()
	select {
	case t.updates <- s:
	default:
		// The tray is behind; it gets the next state.
	}
}

func (t *trayCore) Version() string                { return version() }
func (t *trayCore) Sites() []string                { return t.d.svc.Sites().List() }
func (t *trayCore) RemoveSite(origin string) error { return t.d.svc.Sites().Remove(origin) }
func (t *trayCore) SitesLocked() bool              { return t.d.svc.Sites().Policy().Locked }
func (t *trayCore) Autostart() bool                { return desktop.AutostartEnabled(desktop.Options{}) }

func (t *trayCore) SetAutostart(on bool) error {
	if t.d.svc.Sites().Policy().Locked {
		return nil
	}
	_, err := desktop.SetAutostart(desktop.Options{}, on)
	return err
}

func (t *trayCore) ChangePIN(serial string) {
	err := t.d.svc.ChangePIN(context.Background(), rpc.Caller{Origin: "cardbridge (tray)", Via: "tray"}, serial)
	if err != nil {
		t.d.log.Warn("change PIN from the tray", zap.Error(err))
	}
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
	t.d.log.Info("quit from the tray")
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
