package tray

import (
	"slices"

	"fyne.io/systray"
)

// shape is what decides the menu's items, as opposed to their titles: how
// many reader lines there are and which of them hold a card (those get a
// Change PIN item), how many expiry lines, how many sites. A change of
// shape rebuilds the menu; any other change only retitles items.
type shape struct {
	cards    []bool // per reader line: does it hold a card
	expiring int
	sites    int
}

func (a shape) equal(b shape) bool {
	return slices.Equal(a.cards, b.cards) && a.expiring == b.expiring && a.sites == b.sites
}

// shapeOf is the shape a state and a site list need. With no reader at
// all there is still one line, which says so.
func shapeOf(s State, sites int) shape {
	sh := shape{cards: []bool{false}, expiring: len(s.Expiring), sites: sites}
	if len(s.Readers) > 0 {
		sh.cards = make([]bool, len(s.Readers))
		for i, r := range s.Readers {
			sh.cards[i] = r.Card != nil
		}
	}
	return sh
}

// menu is the tray's menu as built. Only the loop goroutine touches it.
type menu struct {
	core   Core
	clicks chan func()

	built bool
	shape shape
	cur   State
	sites []string
	icon  string

	readers, expiry []*entry
	siteItems       []*entry
	removes         []*entry
	autostart       *systray.MenuItem
}

// entry is a menu item that remembers what it shows, so that only changes
// reach the panel: every systray call is a D-Bus signal that makes the
// panel redraw, and the daemon refreshes the menu every few seconds.
type entry struct {
	m       *systray.MenuItem
	title   string
	enabled bool
}

func (e *entry) set(title string, enabled bool) {
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
}

// item adds a menu item (under parent, or at the top when parent is nil)
// and forwards its clicks to the loop. systray drops a click when nobody
// is receiving at that instant, so each item has a goroutine that does
// nothing but wait; it ends when a rebuild removes the item, which closes
// its channel.
func (m *menu) item(parent *systray.MenuItem, title string, enabled bool, action func()) *entry {
	var it *systray.MenuItem
	if parent == nil {
		it = systray.AddMenuItem(title, "")
	} else {
		it = parent.AddSubMenuItem(title, "")
	}
	if !enabled {
		it.Disable()
	}
	m.forward(it, action)
	return &entry{m: it, title: title, enabled: enabled}
}

func (m *menu) forward(it *systray.MenuItem, action func()) {
	if action == nil {
		return
	}
	go func() {
		for range it.ClickedCh {
			m.clicks <- action
		}
	}()
}

// show brings the menu and icon to a new state.
func (m *menu) show(s State) {
	m.cur = s
	m.render()
	if state := IconState(s); state != m.icon {
		m.icon = state
		systray.SetIcon(icons[state])
		systray.SetTooltip(Tooltip(s))
	}
}

// showSites reads the allowed sites again.
func (m *menu) showSites() {
	m.sites = m.core.Sites()
	m.render()
}

func (m *menu) render() {
	if sh := shapeOf(m.cur, len(m.sites)); !m.built || !sh.equal(m.shape) {
		m.build(sh)
	}
	for i, e := range m.readers {
		if i < len(m.cur.Readers) {
			e.set(ReaderLine(m.cur.Readers[i]), m.cur.Readers[i].Card != nil)
		}
	}
	for i, e := range m.expiry {
		e.set(ExpiryLine(m.cur.Expiring[i]), false)
	}
	locked := m.core.SitesLocked()
	for i, e := range m.siteItems {
		e.set(m.sites[i], true)
		m.removes[i].set("Remove", !locked)
	}
}

// build makes the menu anew for a shape. The actions look up what a slot
// shows when clicked, not when built: titles change without a rebuild.
func (m *menu) build(sh shape) {
	if m.built {
		systray.ResetMenu()
	}
	m.built, m.shape = true, sh
	m.readers, m.expiry, m.siteItems, m.removes = nil, nil, nil, nil
	for i, card := range sh.cards {
		r := m.item(nil, "No card reader", card, nil)
		m.readers = append(m.readers, r)
		if card {
			m.item(r.m, "Change PIN…", true, func() {
				if i < len(m.cur.Readers) && m.cur.Readers[i].Card != nil {
					go m.core.ChangePIN(m.cur.Readers[i].Card.Serial)
				}
			})
		}
	}
	for range sh.expiring {
		m.expiry = append(m.expiry, m.item(nil, "", false, nil))
	}
	systray.AddSeparator()
	sitesMenu := systray.AddMenuItem("Allowed sites", "Sites you allowed to use cardbridge")
	for i := range sh.sites {
		site := m.item(sitesMenu, "", true, nil)
		m.siteItems = append(m.siteItems, site)
		m.removes = append(m.removes, m.item(site.m, "Remove", true, func() {
			if i < len(m.sites) {
				m.core.RemoveSite(m.sites[i])
			}
			m.showSites()
		}))
	}
	if sh.sites == 0 {
		m.item(sitesMenu, "No sites yet", false, nil)
	}
	m.autostart = systray.AddMenuItemCheckbox("Start at login", "Start cardbridge when you log in", m.core.Autostart())
	m.forward(m.autostart, func() {
		on := !m.autostart.Checked()
		if err := m.core.SetAutostart(on); err == nil {
			if on {
				m.autostart.Check()
			} else {
				m.autostart.Uncheck()
			}
		}
	})
	m.item(nil, "Open log folder", true, m.core.OpenLogFolder)
	m.item(nil, "About cardbridge "+m.core.Version(), false, nil)
	systray.AddSeparator()
	m.item(nil, "Quit", true, m.core.Quit)
}
