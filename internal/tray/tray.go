// Package tray is cardbridge's tray icon: a thin client of the daemon. It
// shows what the core reports (readers, cards, PIN states, certificates
// that expire soon, whether a dialog is open) and sends the user's clicks
// back; it makes no PKCS#11 calls of its own.
package tray

import (
	"fmt"
	"time"

	"fyne.io/systray"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Core is what the tray needs from the daemon.
type Core interface {
	Version() string
	Sites() []string
	RemoveSite(origin string) error
	SitesLocked() bool
	// ChangePIN runs the whole dialog and reports its outcome to the
	// user; the tray calls it on a goroutine of its own.
	ChangePIN(serial string)
	Autostart() bool
	SetAutostart(on bool) error
	OpenLogFolder()
	Quit()
}

// State is what the tray shows.
type State struct {
	Readers  []protocol.Reader
	Expiring []Expiring
	Busy     bool
}

// Expiring is a certificate on a card that expires within 30 days.
type Expiring struct {
	Card, Subject string
	NotAfter      time.Time
}

// Icon states.
const (
	StateNoCard    = "no card"
	StateReady     = "ready"
	StateBusy      = "busy"
	StateAttention = "attention"
)

// IconState says which icon a state gets: attention beats busy beats ready.
func IconState(s State) string {
	card := false
	for _, r := range s.Readers {
		if r.Card == nil {
			continue
		}
		card = true
		if r.Card.PIN.Locked || r.Card.PIN.CountLow || r.Card.PIN.FinalTry {
			return StateAttention
		}
	}
	switch {
	case len(s.Expiring) > 0:
		return StateAttention
	case s.Busy:
		return StateBusy
	case card:
		return StateReady
	}
	return StateNoCard
}

// Tooltip is the icon's tooltip: the state in words, for those who cannot
// tell the icons apart.
func Tooltip(s State) string {
	switch IconState(s) {
	case StateNoCard:
		return "cardbridge: no card"
	case StateBusy:
		return "cardbridge: busy, a dialog is open"
	case StateAttention:
		return "cardbridge: needs your attention (see the menu)"
	}
	return "cardbridge: ready"
}

// ReaderLine is the menu line of one reader.
func ReaderLine(r protocol.Reader) string {
	switch {
	case r.Card == nil && r.Status == protocol.ReaderNotAnswering:
		return "reader " + r.Name + " is not answering"
	case r.Card == nil && r.Status == protocol.ReaderUnsupported:
		return "card in reader " + r.Name + " is not supported"
	case r.Card == nil:
		return r.Name + ": no card"
	}
	st := "ready"
	switch {
	case r.Card.PIN.Locked:
		st = "PIN locked"
	case r.Card.PIN.FinalTry, r.Card.PIN.CountLow:
		st = "PIN count low"
	}
	return fmt.Sprintf("%s: card %s, %s", r.Name, protocol.GroupSerial(r.Card.Serial), st)
}

// ExpiryLine is the menu line of a certificate that expires soon.
func ExpiryLine(e Expiring) string {
	return fmt.Sprintf("Certificate of %s expires %s", e.Subject, e.NotAfter.Format("2 Jan 2006"))
}

const sitesInterval = 2 * time.Second

// Run shows the tray until Quit; it blocks. States arrive on updates; the
// latest one wins, so a sender may replace a state the tray has not read.
func Run(core Core, updates <-chan State) {
	systray.Run(func() { go loop(core, updates) }, func() {})
}

// Stop removes the tray icon and makes Run return.
func Stop() { systray.Quit() }

// loop owns the menu: every change to it, and every click, happens here,
// one at a time.
func loop(core Core, updates <-chan State) {
	systray.SetTitle("cardbridge")
	m := &menu{core: core, clicks: make(chan func(), 16)}
	m.show(State{})
	m.showSites()
	tick := time.NewTicker(sitesInterval)
	defer tick.Stop()
	for {
		select {
		case s, ok := <-updates:
			if !ok {
				return
			}
			m.show(s)
		case <-tick.C:
			m.showSites()
		case action := <-m.clicks:
			action()
		}
	}
}
