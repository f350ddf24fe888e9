// Package tray is cardbridge's tray icon: a thin client of the daemon. It
// shows what the core reports (readers, cards, PIN states, certificates
// that expire soon, whether a dialog is open) and sends the user's clicks
// back; it makes no PKCS#11 calls of its own.
package tray

import (
	"fmt"
	"reflect"
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

// entry is a menu item that remembers what it shows, so that only changes
// reach the panel: every systray call is a D-Bus signal that makes the
// panel redraw, and the daemon refreshes the menu every few seconds.
type entry struct {
	m       *systray.MenuItem
	title   string
	shown   bool
	enabled bool
}

// track wraps an item as systray adds it (with title, shown and enabled)
// and brings it to the state asked for.
func track(m *systray.MenuItem, title string, shown, enabled bool) *entry {
	e := &entry{m: m, title: title, shown: true, enabled: true}
	e.set(title, shown, enabled)
	return e
}

func (e *entry) set(title string, shown, enabled bool) {
	if title != e.title {
		e.title = title
		e.m.SetTitle(title)
	}
	if enabled != e.enabled {
		e.enabled = enabled
		if enabled {
			e.m.Enable()
		} else {
			e.m.Disable()
		}
	}
	if shown != e.shown {
		e.shown = shown
		if shown {
			e.m.Show()
		} else {
			e.m.Hide()
		}
	}
}

func onReady(core Core, updates <-chan State) {
	systray.SetIcon(iconNoCard)
	systray.SetTitle("cardbridge")
	systray.SetTooltip("cardbridge: " + StateNoCard)
	icon := StateNoCard

	readers := make([]*entry, readerSlots)
	for i := range readers {
		readers[i] = track(systray.AddMenuItem("", ""), "", false, false)
	}
	expiry := make([]*entry, expirySlots)
	for i := range expiry {
		expiry[i] = track(systray.AddMenuItem("", ""), "", false, false)
	}
	systray.AddSeparator()
	changePIN := track(systray.AddMenuItem("Change PIN…", "Change the PIN of the card"), "Change PIN…", true, false)
	sitesMenu := systray.AddMenuItem("Allowed sites", "Sites you allowed to use cardbridge")
	siteItems := make([]*entry, siteSlots)
	removes := make([]*entry, siteSlots)
	siteNames := make([]string, siteSlots)
	for i := range siteItems {
		m := sitesMenu.AddSubMenuItem("", "")
		removes[i] = track(m.AddSubMenuItem("Remove", "Forget that you allowed this site"), "Remove", true, true)
		siteItems[i] = track(m, "", false, true)
	}
	noSites := track(sitesMenu.AddSubMenuItem("No sites yet", ""), "No sites yet", true, false)
	autostart := systray.AddMenuItemCheckbox("Start at login", "Start cardbridge when you log in", core.Autostart())
	logs := systray.AddMenuItem("Open log folder", "")
	about := systray.AddMenuItem("About cardbridge "+core.Version(), "")
	about.Disable()
	systray.AddSeparator()
	quit := systray.AddMenuItem("Quit", "Stop cardbridge")

	var cur State
	showSites := func() {
		sites := core.Sites()
		locked := core.SitesLocked()
		for i := range siteItems {
			if i < len(sites) {
				siteNames[i] = sites[i]
				siteItems[i].set(sites[i], true, true)
				removes[i].set("Remove", true, !locked)
			} else {
				siteNames[i] = ""
				siteItems[i].set("", false, true)
			}
		}
		noSites.set(noSites.title, len(sites) == 0, false)
	}
	show := func(s State) {
		cur = s
		for i, item := range readers {
			switch {
			case i < len(s.Readers):
				item.set(ReaderLine(s.Readers[i]), true, false)
			case i == 0:
				item.set("No card reader", true, false)
			default:
				item.set(item.title, false, false)
			}
		}
		for i, item := range expiry {
			if i < len(s.Expiring) {
				e := s.Expiring[i]
				item.set(fmt.Sprintf("Certificate of %s expires %s", e.Subject, e.NotAfter.Format("2 Jan 2006")), true, false)
			} else {
				item.set(item.title, false, false)
			}
		}
		changePIN.set(changePIN.title, true, firstCard(s) != "")
		if state := IconState(s); state != icon {
			icon = state
			systray.SetIcon(map[string][]byte{StateNoCard: iconNoCard, StateReady: iconReady, StateBusy: iconBusy, StateAttention: iconAttention}[state])
			systray.SetTooltip("cardbridge: " + state)
		}
	}
	show(State{})
	showSites()

	// systray drops a click when nobody is receiving at that instant, so
	// one goroutine does nothing but wait on every item and forward into a
	// buffer, and the loop below handles the clicks in turn. (A goroutine
	// per item did the same with 21 stacks.)
	clicks := make(chan func(), 16)
	var cases []reflect.SelectCase
	var actions []func()
	forward := func(item *systray.MenuItem, action func()) {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(item.ClickedCh)})
		actions = append(actions, action)
	}
	for i, r := range removes {
		forward(r.m, func() {
			if siteNames[i] != "" {
				core.RemoveSite(siteNames[i])
			}
			showSites()
		})
	}
	forward(changePIN.m, func() {
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
		for {
			i, _, ok := reflect.Select(cases)
			if !ok {
				return
			}
			clicks <- actions[i]
		}
	}()
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
