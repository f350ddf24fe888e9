package tray

import _ "embed"

// The icons are drawn once by TestIcons (go test ./internal/tray -update)
// and embedded as PNG: encoding them at start-up cost 5 ms and 3 MB of
// short-lived heap that the idle daemon then kept. Each state has a shape
// of its own as well as a colour (an outline for no card, a tick, dots, an
// exclamation mark), so that it reads without colour vision.
var (
	//go:embed icons/nocard.png
	iconNoCard []byte
	//go:embed icons/ready.png
	iconReady []byte
	//go:embed icons/busy.png
	iconBusy []byte
	//go:embed icons/attention.png
	iconAttention []byte

	icons = map[string][]byte{StateNoCard: iconNoCard, StateReady: iconReady, StateBusy: iconBusy, StateAttention: iconAttention}
)
