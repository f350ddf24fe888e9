package tray

// The icons are drawn once by TestIcons (go test ./internal/tray -update)
// and embedded, as PNG for panels (icons_other.go) and as ICO for Windows
// (icons_windows.go): encoding them at start-up cost 5 ms and 3 MB of
// short-lived heap that the idle daemon then kept. Each state has a shape
// of its own as well as a colour (an outline for no card, a tick, dots, an
// exclamation mark), so that it reads without colour vision.
var icons = map[string][]byte{StateNoCard: iconNoCard, StateReady: iconReady, StateBusy: iconBusy, StateAttention: iconAttention}
