package token

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// p11-kit looks up relative module names here; so do we.
var p11kitModuleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11",
	"/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib64/pkcs11",
	"/usr/lib/pkcs11",
}

var p11kitConfigDirs = []string{"/usr/share/p11-kit/modules", "/etc/pkcs11/modules"}

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

// Discover lists the PKCS#11 modules installed on this machine: those
// registered with p11-kit first, then well-known paths. The list holds each
// library once, however many names it has. p11-kit's trust module is left
// out: it holds CA certificates, not cards.
func Discover() []string {
	var found []string
	for _, dir := range p11kitConfigDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.module"))
		for _, f := range files {
			if p := moduleFromConfig(f); p != "" {
				found = append(found, p)
			}
		}
	}
	for _, p := range wellKnownModules() {
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	return dedupe(found)
}

// moduleFromConfig reads the "module:" line of a p11-kit .module file.
func moduleFromConfig(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	var module string
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || strings.HasPrefix(strings.TrimSpace(k), "#") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "module":
			module = strings.TrimSpace(v)
		case "disable-in", "enable-in":
			// These name p11-kit clients; they do not concern us.
		}
	}
	if module == "" || strings.Contains(module, "p11-kit-trust") {
		return ""
	}
	if !filepath.IsAbs(module) {
		for _, d := range p11kitModuleDirs {
			if _, err := os.Stat(filepath.Join(d, module)); err == nil {
				return filepath.Join(d, module)
			}
		}
		return ""
	}
	if _, err := os.Stat(module); err != nil {
		return ""
	}
	return module
}

// dedupe keeps the first path of each distinct library file, so that one
// library reached through a symlink is not loaded twice.
func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}
