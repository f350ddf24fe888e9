package token

import (
	"os"
	"path/filepath"
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
	switch runtime.GOOS {
	case "darwin":
		return []string{
			"/Library/OpenSC/lib/opensc-pkcs11.so",
			"/usr/local/lib/opensc-pkcs11.so",
			"/opt/homebrew/lib/opensc-pkcs11.so",
			"/usr/local/lib/libeTPkcs11.dylib", // SafeNet / Thales
			"/usr/local/lib/libcrypto3PKCS.dylib",
		}
	case "windows":
		return []string{
			`C:\Windows\System32\opensc-pkcs11.dll`,
			`C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`,
			`C:\Windows\System32\eTPKCS11.dll`,          // SafeNet / Thales
			`C:\Windows\System32\cryptoCertum3PKCS.dll`, // Certum
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

// Discover lists the PKCS#11 modules installed on this machine, as specs
// for Options ("PATH" or "PATH;ARGS"): those p11-kit would load for
// cardbridge first (see p11kit.go), then well-known paths. The list holds
// each library once, however many names it has; a library p11-kit's
// configuration keeps away from cardbridge is not added back from the
// well-known paths.
func Discover() []string {
	found := p11kitModules()
	for _, p := range wellKnownModules() {
		if p11kitExcludes(p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	return dedupe(found)
}

// dedupe keeps the first path of each distinct library file, so that one
// library reached through a symlink is not loaded twice.
func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(ModulePath(p))
		if err != nil {
			real = ModulePath(p)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}
