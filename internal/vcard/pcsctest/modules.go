//go:build unix

package pcsctest

import (
	"fmt"
	"os"
	"path/filepath"
)

var moduleDirs = []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"}

// OpenSCModule is the path of OpenSC's PKCS#11 module.
func OpenSCModule() (string, error) { return module("opensc-pkcs11.so") }

// YKCS11Module is the path of Yubico's PKCS#11 module for PIV.
func YKCS11Module() (string, error) { return module("libykcs11.so.2", "libykcs11.so") }

func module(names ...string) (string, error) {
	for _, d := range moduleDirs {
		for _, n := range names {
			if p := filepath.Join(d, n); exists(p) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("pkcs#11 module %s not found", names[0])
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
