//go:build windows

package cli

import (
	"os"

	"github.com/cardbridge/cardbridge/internal/pin"
	"go.uber.org/zap"
)

const pinentryHelp = "pinentry program `PATH` for PIN and consent dialogs instead of the Windows ones; default: $CARDBRIDGE_PINENTRY, else Windows dialogs"

// choosePrompter picks the dialogs on Windows: its own windows, unless a
// pinentry was named (Windows has none of its own, and the MSI ships
// none). The second result names the choice for the log.
func choosePrompter(path string, _ *zap.Logger) (pin.Prompter, string) {
	if path == "" {
		path = os.Getenv("CARDBRIDGE_PINENTRY")
	}
	if path != "" {
		return pin.NewPinentry(path), path
	}
	return pin.NewDialog(), "windows dialogs"
}

// importPrompter is the dialog of import-p12: a named pinentry, else the
// Windows dialogs.
func importPrompter(path string) (pin.Prompter, error) {
	p, _ := choosePrompter(path, nil)
	return p, nil
}

// noModuleHint is what status says when it finds no PKCS#11 module.
const noModuleHint = "No PKCS#11 module found. Install OpenSC for Windows (github.com/OpenSC/OpenSC/releases) or your card vendor's middleware, or name its DLL with --module."
