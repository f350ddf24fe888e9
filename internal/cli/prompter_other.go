//go:build !windows

package cli

import (
	"os"

	"github.com/cardbridge/cardbridge/internal/pin"
	"go.uber.org/zap"
)

const pinentryHelp = "pinentry program `PATH` for PIN and consent dialogs; default: $CARDBRIDGE_PINENTRY, else the one on PATH that fits the desktop (pinentry-gtk-2, pinentry-qt on KDE/LXQt, …)"

// choosePrompter picks the pinentry for PIN and consent dialogs: path,
// else $CARDBRIDGE_PINENTRY, else the best one on PATH. The second result
// names the program for the log.
func choosePrompter(path string, log *zap.Logger) (pin.Prompter, string) {
	if path == "" {
		path = os.Getenv("CARDBRIDGE_PINENTRY")
	}
	if path == "" {
		var err error
		if path, err = pin.FindPinentry(); err != nil {
			log.Warn("no pinentry program found; PIN dialogs will fail until one is installed (apt-get install pinentry-gnome3)")
		}
	}
	return pin.NewPinentry(path), path
}

// importPrompter is the pinentry of import-p12, which needs one.
func importPrompter(path string) (pin.Prompter, error) {
	if path == "" {
		var err error
		if path, err = pin.FindPinentry(); err != nil {
			return nil, err
		}
	}
	return pin.NewPinentry(path), nil
}

// noModuleHint is what status says when it finds no PKCS#11 module.
const noModuleHint = "No PKCS#11 module found. Install OpenSC (apt-get install opensc pcscd) or your card vendor's middleware."
