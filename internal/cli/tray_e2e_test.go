package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/godbus/dbus/v5"
)

// menuItem is a node of a com.canonical.dbusmenu layout.
type menuItem struct {
	id       int32
	label    string
	visible  bool
	children []menuItem
}

func parseItem(v []any) menuItem {
	it := menuItem{id: v[0].(int32), visible: true}
	for k, p := range v[1].(map[string]dbus.Variant) {
		switch k {
		case "label":
			it.label, _ = p.Value().(string)
		case "visible":
			it.visible, _ = p.Value().(bool)
		}
	}
	for _, c := range v[2].([]dbus.Variant) {
		it.children = append(it.children, parseItem(c.Value().([]any)))
	}
	return it
}

func (m menuItem) find(pred func(menuItem) bool) *menuItem {
	if m.visible && pred(m) {
		return &m
	}
	for _, c := range m.children {
		if r := c.find(pred); r != nil {
			return r
		}
	}
	return nil
}

func labelHas(s string) func(menuItem) bool {
	return func(m menuItem) bool { return strings.Contains(m.label, s) }
}

// trayHost reads the tray the way a panel does: StatusNotifierItem on the
// session bus, its menu through com.canonical.dbusmenu.
type trayHost struct {
	t    *testing.T
	conn *dbus.Conn
	name string
}

func (h *trayHost) layout() menuItem {
	h.t.Helper()
	m, err := h.tryLayout()
	if err != nil {
		h.t.Fatalf("GetLayout: %v", err)
	}
	return m
}

func (h *trayHost) tryLayout() (menuItem, error) {
	var rev uint32
	call := h.conn.Object(h.name, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		return menuItem{}, call.Err
	}
	var l struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	if err := call.Store(&rev, &l); err != nil {
		return menuItem{}, err
	}
	return parseItem([]any{l.ID, l.Props, l.Children}), nil
}

func (h *trayHost) click(id int32) {
	h.t.Helper()
	call := h.conn.Object(h.name, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix()))
	if call.Err != nil {
		h.t.Fatalf("Event: %v", call.Err)
	}
}

// waitFor polls the menu until pred holds.
func (h *trayHost) waitFor(what string, pred func(menuItem) bool) menuItem {
	h.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// Early on the menu may not be exported yet: keep asking.
		if m, err := h.tryLayout(); err == nil && pred(m) {
			return m
		}
	}
	h.t.Fatalf("tray never showed %s; menu: %+v", what, h.layout())
	return menuItem{}
}

func waitFile(t *testing.T, path string, exists bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); (err == nil) == exists {
			return
		}
	}
	t.Fatalf("%s exists = %v, want %v", path, !exists, exists)
}

func TestTrayOverDBus(t *testing.T) {
	if _, err := exec.LookPath("dbus-run-session"); err != nil {
		softhsmtest.Missing(t, err) // CI must have dbus
	}
	e := newDesktopEnv(t)
	cfg := filepath.Join(e.home, "cfg")
	os.MkdirAll(cfg, 0o700)
	// More sites than the old menu's 16 fixed slots.
	allowed := []string{`"https://allowed.example"`}
	for i := range 20 {
		allowed = append(allowed, fmt.Sprintf(`"https://site%02d.example"`, i))
	}
	os.WriteFile(filepath.Join(cfg, "sites.json"), []byte(`{"allowed":[`+strings.Join(allowed, ",")+`]}`), 0o600)
	addrFile := filepath.Join(e.home, "bus")
	// The daemon's pinentry reads its answers here; empty until needed.
	queue := filepath.Join(e.home, "answers")
	os.WriteFile(queue, nil, 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	script := fmt.Sprintf(`echo "$DBUS_SESSION_BUS_ADDRESS" > %q; exec %q tray --listen 127.0.0.1:0 --module %q --config %q`, addrFile, bin, e.tok.Module, cfg)
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	var conn *dbus.Conn
	for deadline := time.Now().Add(10 * time.Second); conn == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			c, err := dbus.Connect(strings.TrimSpace(string(b)))
			if err == nil {
				conn = c
			}
		}
	}
	if conn == nil {
		t.Fatal("no session bus")
	}
	defer conn.Close()
	h := &trayHost{t: t, conn: conn}
	for deadline := time.Now().Add(10 * time.Second); h.name == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var names []string
		conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names)
		for _, n := range names {
			if strings.HasPrefix(n, "org.kde.StatusNotifierItem-") {
				h.name = n
			}
		}
	}
	if h.name == "" {
		t.Fatal("the tray never appeared on the bus")
	}

	notes := newNotifications(t, conn)
	h.waitFor("the card", func(m menuItem) bool { return m.find(labelHas(protocol.GroupSerial(e.tok.Serial)+", ready")) != nil })
	h.waitFor("all 21 sites", func(m menuItem) bool { return m.find(labelHas("https://site19.example")) != nil })
	// Nine cards arrive (more than the old menu's 8 reader slots), each
	// with a Change PIN item of its own; then they leave.
	var added []*softhsm.Token
	for i := range 9 {
		tok, err := softhsm.Create(filepath.Dir(e.tok.Conf), fmt.Sprintf("inserted %d", i), softhsmtest.PIN, softhsmtest.SOPIN)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, tok)
	}
	// (Right after a rebuild systray answers the first GetLayout one level
	// deep and then signals a change, so a panel asks again; so does this.)
	h.waitFor("the new cards, each with a Change PIN item", func(m menuItem) bool {
		for _, tok := range added {
			line := m.find(labelHas(protocol.GroupSerial(tok.Serial)))
			if line == nil || len(line.children) != 1 || line.children[0].label != "Change PIN…" {
				return false
			}
		}
		return true
	})
	for _, tok := range added {
		softhsm.Delete(tok.Conf, tok.Serial)
	}
	h.waitFor("the cards gone", func(m menuItem) bool {
		for _, tok := range added {
			if m.find(labelHas(protocol.GroupSerial(tok.Serial))) != nil {
				return false
			}
		}
		return true
	})

	// Remove an allowed site from the menu.
	m := h.waitFor("the site's Remove item", func(m menuItem) bool {
		site := m.find(labelHas("https://allowed.example"))
		return site != nil && len(site.children) > 0
	})
	site := m.find(labelHas("https://allowed.example"))
	if site == nil || len(site.children) == 0 || site.children[0].label != "Remove" {
		t.Fatalf("allowed site not in the menu: %+v", m)
	}
	for _, want := range []string{"Change PIN…", "Allowed sites", "Start at login", "Open log folder", "About cardbridge", "Quit"} {
		if m.find(labelHas(want)) == nil {
			t.Errorf("menu has no %q", want)
		}
	}
	h.click(site.children[0].id)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(cfg, "sites.json"))
		if !strings.Contains(string(b), "allowed.example") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("site not removed: %s", b)
		}
	}
	// One site fewer is a menu of another shape, built anew.
	m = h.waitFor("the site gone", func(m menuItem) bool {
		return m.find(labelHas("https://allowed.example")) == nil && m.find(labelHas("https://site19.example")) != nil
	})
	// Start at login, from the menu: on, then off again.
	autostart := filepath.Join(e.home, ".config", "autostart", "cardbridge.desktop")
	toggle := m.find(labelHas("Start at login"))
	h.click(toggle.id)
	waitFile(t, autostart, true)
	h.click(toggle.id)
	waitFile(t, autostart, false)

	// Change PIN… with a wrong current PIN: one dialog only, then word of
	// the outcome.
	m = h.waitFor("Change PIN", func(m menuItem) bool { return m.find(labelHas("Change PIN")) != nil })
	changePIN := m.find(labelHas(protocol.GroupSerial(e.tok.Serial))).find(labelHas("Change PIN"))
	os.WriteFile(e.pinLog, nil, 0o600)
	os.WriteFile(queue, []byte("pin 000000\n"), 0o600)
	h.click(changePIN.id)
	if got := notes.next(); got[0] != "PIN not changed" || !strings.Contains(got[1], "current PIN was wrong") {
		t.Errorf("wrong current PIN: notification %q", got)
	}
	if log, _ := os.ReadFile(e.pinLog); strings.Count(string(log), "GETPIN") != 1 {
		t.Errorf("a wrong current PIN still asked for a new one:\n%s", log)
	}
	// Change PIN…: cardbridge's dialogs, naming the tray as the asker.
	os.WriteFile(queue, []byte("pin "+softhsmtest.PIN+"\npin 654321\n"), 0o600)
	h.click(changePIN.id)
	if got := notes.next(); got[0] != "PIN changed" || !strings.Contains(got[1], protocol.GroupSerial(e.tok.Serial)) {
		t.Errorf("notification %q", got)
	}
	if log, _ := os.ReadFile(e.pinLog); !strings.Contains(string(log), "cardbridge (tray) wants to change the PIN") {
		t.Fatalf("dialogs:\n%s", log)
	}
	// OpenSC's pkcs11-tool logs in with the new PIN.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command("pkcs11-tool", "--module", e.tok.Module, "--token-label", "desktop card", "--login", "--pin", "654321", "--list-objects").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new PIN refused: %v %s", err, out)
		}
	}

	// Quit ends the daemon.
	h.click(m.find(labelHas("Quit")).id)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		// Ask the Go runtime where it is stuck before giving up.
		if r, err := control.Ping(); err == nil {
			syscall.Kill(r.PID, syscall.SIGQUIT)
			time.Sleep(2 * time.Second)
		}
		t.Fatalf("Quit did not stop cardbridge; its log:\n%s", logs.String())
	}
}

// notifications plays the desktop's notification service on the test's
// bus and hands over what the tray shows, as (summary, body).
type notifications struct {
	t  *testing.T
	ch chan [2]string
}

func newNotifications(t *testing.T, conn *dbus.Conn) *notifications {
	n := &notifications{t: t, ch: make(chan [2]string, 8)}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("notification service: %v %v", r, err)
	}
	return n
}

// Notify implements org.freedesktop.Notifications.Notify.
func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.ch <- [2]string{summary, body}
	return 1, nil
}

func (n *notifications) next() [2]string {
	n.t.Helper()
	select {
	case got := <-n.ch:
		return got
	case <-time.After(15 * time.Second):
		n.t.Fatal("no notification")
	}
	return [2]string{}
}
