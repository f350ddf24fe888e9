//go:build !linux

package desktop

import "errors"

// SystemFiles is for Linux packages only.
func SystemFiles(root, exe string) ([]Step, error) {
	return nil, errors.New("system-wide package files are made for Linux only")
}
