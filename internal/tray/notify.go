package tray

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Notify shows a desktop notification through the freedesktop
// notification service on the session bus, the way panels expect it.
// It returns an error where there is no such service.
func Notify(summary, body string) error {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("notify: session bus: %w", err)
	}
	defer conn.Close()
	call := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications").Call(
		"org.freedesktop.Notifications.Notify", 0,
		"cardbridge", uint32(0), "dialog-password", summary, body, []string{},
		map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(1))}, int32(-1))
	if call.Err != nil {
		return fmt.Errorf("notify: %w", call.Err)
	}
	return nil
}
