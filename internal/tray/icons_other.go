//go:build !windows

package tray

import _ "embed"

// Panels (over D-Bus) and macOS take PNG.
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

// iconExt names the embedded format, for TestIcons.
const iconExt = ".png"
