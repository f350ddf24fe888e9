//go:build !windows

package token

import (
	"os"
	"runtime"
)

// p11-kit looks up relative module names here; so do we.
var p11kitModuleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11",
	"/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib64/pkcs11",
	"/usr/lib/pkcs11",
}

// wellKnownModules are modules that often exist without a p11-kit
// registration: OpenSC and common vendor middleware.
func wellKnownModules() []string {
	if runtime.GOOS == "darwin" {
		return []string{
			"/Library/OpenSC/lib/opensc-pkcs11.so",
			"/usr/local/lib/opensc-pkcs11.so",
			"/opt/homebrew/lib/opensc-pkcs11.so",
			"/usr/local/lib/libeTPkcs11.dylib", // SafeNet / Thales
			"/usr/local/lib/libcrypto3PKCS.dylib",
		}
	}
	return []string{
		"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib64/opensc-pkcs11.so",
		"/usr/lib/opensc-pkcs11.so",
		"/usr/local/lib/opensc-pkcs11.so",
		"/usr/lib/libeTPkcs11.so",    // SafeNet / Thales
		"/usr/lib/libcrypto3PKCS.so", // Certum
		"/usr/lib/libcryptoCertum3PKCS.so",
		"/usr/lib/libIDPrimePKCS11.so", // Thales IDPrime
	}
}

// discover lists those modules p11-kit would load for cardbridge first
// (see p11kit.go), then well-known paths; a library p11-kit's
// configuration keeps away from cardbridge is not added back from the
// well-known paths.
func discover() []string {
	found := p11kitModules()
	for _, p := range wellKnownModules() {
		if p11kitExcludes(p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	return found
}
