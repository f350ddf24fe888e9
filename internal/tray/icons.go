package tray

import _ "embed"

// The icons are drawn once by TestIcons (go test ./internal/tray -update)
// and embedded as PNG: encoding them at start-up cost 5 ms and 3 MB of
// short-lived heap that the idle daemon then kept.
var (
	//go:embed icons/nocard.png
	iconNoCard []byte
	//go:embed icons/ready.png
	iconReady []byte
	//go:embed icons/busy.png
	iconBusy []byte
	//go:embed icons/attention.png
	iconAttention []byte
)
