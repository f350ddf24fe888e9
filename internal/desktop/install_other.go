//go:build !linux && !windows && !darwin

package desktop

import "errors"

var errUnsupported = errors.New("cardbridge install is not available on this system; register the URL handler by hand")

// Install is not available here.
func Install(Options) ([]Step, error) { return nil, errUnsupported }

// Uninstall is not available here.
func Uninstall(Options) error { return errUnsupported }

// SetAutostart is not available here.
func SetAutostart(Options, bool) (string, error) { return "", errUnsupported }

// AutostartEnabled is always false here.
func AutostartEnabled(Options) bool { return false }
