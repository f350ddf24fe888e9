//go:build windows

package tray

import _ "embed"

// Windows loads tray icons with LoadImage(IMAGE_ICON), which takes ICO
// only: PNG bytes give "unable to set icon" and no icon. The ICO files are
// drawn by TestIcons like the PNGs.
var (
	//go:embed icons/nocard.ico
	iconNoCard []byte
	//go:embed icons/ready.ico
	iconReady []byte
	//go:embed icons/busy.ico
	iconBusy []byte
	//go:embed icons/attention.ico
	iconAttention []byte
)

const iconExt = ".ico"
