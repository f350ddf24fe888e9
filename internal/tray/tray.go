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

// ReaderLine is the menu line of one reader.
func ReaderLine(r protocol.Reader) string {
	if r.Card == nil {
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

const (
	readerSlots   = 8
	expirySlots   = 4
	siteSlots     = 16
	sitesInterval = 2 * time.Second
)

// Run shows the tray until Quit; it blocks. States arrive on updates.
func Run(core Core, updates <-chan State) {
	systray.Run(func() { onReady(core, updates) }, func() {})
}

// Stop removes the tray icon and makes Run return.
func Stop() { systray.Quit() }

func onReady(core Core, updates <-chan State) {
	systray.SetIcon(iconNoCard)
	systray.SetTitle("cardbridge")
	systray.SetTooltip("cardbridge: no card")

	readers := make([]*systray.MenuItem, readerSlots)
	for i := range readers {
		readers[i] = systray.AddMenuItem("", "")
		readers[i].Disable()
		readers[i].Hide()
	}
	expiry := make([]*systray.MenuItem, expirySlots)
	for i := range expiry {
		expiry[i] = systray.AddMenuItem("", "")
		expiry[i].Disable()
		expiry[i].Hide()
	}
	systray.AddSeparator()
	changePIN := systray.AddMenuItem("Change PIN…", "Change the PIN of the card")
	changePIN.Disable()
	sitesMenu := systray.AddMenuItem("Allowed sites", "Sites you allowed to use cardbridge")
	siteItems := make([]*systray.MenuItem, siteSlots)
	removes := make([]*systray.MenuItem, siteSlots)
	siteNames := make([]string, siteSlots)
	for i := range siteItems {
		siteItems[i] = sitesMenu.AddSubMenuItem("", "")
		removes[i] = siteItems[i].AddSubMenuItem("Remove", "Forget that you allowed this site")
		siteItems[i].Hide()
	}
	noSites := sitesMenu.AddSubMenuItem("No sites yet", "")
	noSites.Disable()
	autostart := systray.AddMenuItemCheckbox("Start at login", "Start cardbridge when you log in", core.Autostart())
	logs := systray.AddMenuItem("Open log folder", "")
	about := systray.AddMenuItem("About cardbridge "+core.Version(), "")
	about.Disable()
	systray.AddSeparator()
	quit := systray.AddMenuItem("Quit", "Stop cardbridge")

	var cur State
	showSites := func() {
		sites := core.Sites()
		for i := range siteItems {
			if i < len(sites) {
				siteNames[i] = sites[i]
				siteItems[i].SetTitle(sites[i])
				siteItems[i].Show()
				if core.SitesLocked() {
					removes[i].Disable()
				}
			} else {
				siteNames[i] = ""
				siteItems[i].Hide()
			}
		}
		if len(sites) == 0 {
			noSites.Show()
		} else {
			noSites.Hide()
		}
	}
	show := func(s State) {
		cur = s
		for i, item := range readers {
			if i < len(s.Readers) {
				item.SetTitle(ReaderLine(s.Readers[i]))
				item.Show()
			} else {
				item.Hide()
			}
		}
		if len(s.Readers) == 0 {
			readers[0].SetTitle("No card reader")
			readers[0].Show()
		}
		for i, item := range expiry {
			if i < len(s.Expiring) {
				e := s.Expiring[i]
				item.SetTitle(fmt.Sprintf("Certificate of %s expires %s", e.Subject, e.NotAfter.Format("2 Jan 2006")))
				item.Show()
			} else {
				item.Hide()
			}
		}
		if firstCard(s) != "" {
			changePIN.Enable()
		} else {
			changePIN.Disable()
		}
		state := IconState(s)
		systray.SetIcon(map[string][]byte{StateNoCard: iconNoCard, StateReady: iconReady, StateBusy: iconBusy, StateAttention: iconAttention}[state])
		systray.SetTooltip("cardbridge: " + state)
	}
	show(State{})
	showSites()

	// systray drops a click when nobody is receiving at that instant, so
	// every item has a goroutine that only forwards, into a buffer, and the
	// loop below handles them in turn.
	clicks := make(chan func(), 16)
	forward := func(item *systray.MenuItem, action func()) {
		go func() {
			for range item.ClickedCh {
				clicks <- action
			}
		}()
	}
	for i, r := range removes {
		forward(r, func() {
			if siteNames[i] != "" {
				core.RemoveSite(siteNames[i])
			}
			showSites()
		})
	}
	forward(changePIN, func() {
		if serial := firstCard(cur); serial != "" {
			go core.ChangePIN(serial)
		}
	})
	forward(autostart, func() {
		on := !autostart.Checked()
		if err := core.SetAutostart(on); err == nil {
			if on {
				autostart.Check()
			} else {
				autostart.Uncheck()
			}
		}
	})
	forward(logs, core.OpenLogFolder)
	forward(quit, core.Quit)
	go func() {
		tick := time.NewTicker(sitesInterval)
		defer tick.Stop()
		for {
			select {
			case s, ok := <-updates:
				if !ok {
					return
				}
				show(s)
			case <-tick.C:
				showSites()
			case action := <-clicks:
				action()
			}
		}
	}()
}

func firstCard(s State) string {
	for _, r := range s.Readers {
		if r.Card != nil {
			return r.Card.Serial
		}
	}
	return ""
}
