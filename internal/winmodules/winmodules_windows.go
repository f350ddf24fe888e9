//go:build windows

package winmodules

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// systemModules are the PKCS#11 DLLs that vendor middleware installs into
// the system folder (System32), where only administrators can write.
var systemModules = []string{
	"opensc-pkcs11.dll",     // OpenSC, older installers
	"eTPKCS11.dll",          // SafeNet Authentication Client (Thales)
	"IDPrimePKCS1164.dll",   // Thales IDPrime, 64-bit
	"IDPrimePKCS11.dll",     // Thales IDPrime
	"cryptoCertum3PKCS.dll", // Certum proCertum CardManager
	"SimplySignPKCS.dll",    // Certum SimplySign
	"cmP1164.dll",           // Charismathics (Eurocert)
	"bit4xpki.dll",          // Bit4id
	"asepkcs.dll",           // Athena / Sigillum
	"siecap11.dll",          // Atos CardOS API
	"aetpkss1.dll",          // Giesecke+Devrient StarSign
}

// programFilesModules are DLLs under Program Files, where their vendors
// document them; only administrators can write there.
var programFilesModules = []string{
	`OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`,
	`Yubico\Yubico PIV Tool\bin\libykcs11.dll`,
	`Charismathics\PKCS11\cmP1164.dll`,
	`ENCARD\enigmap11-x64.dll`,
}

// registryModules are modules that an installer records in HKLM (which
// only administrators can change): the key, the value, and how the value
// leads to the DLL.
var registryModules = []struct {
	key, value string
	module     func(value string) string
}{
	// OpenSC's MSI writes ConfigFile = [INSTALLDIR]opensc.conf; the module
	// is in INSTALLDIR\pkcs11, wherever the administrator put INSTALLDIR.
	{`SOFTWARE\OpenSC Project\OpenSC`, "ConfigFile", func(v string) string {
		return filepath.Join(filepath.Dir(v), "pkcs11", "opensc-pkcs11.dll")
	}},
}

// Discover looks only where administrators install: the registry's HKLM,
// System32 and Program Files. The Unix paths of p11-kit mean nothing here
// and must never be tried: `/etc/pkcs11/modules` is a path on whatever
// drive the working directory is on, and any user can create C:\etc.
func Discover() []string {
	roots := trustedRoots()
	var candidates []string
	for _, r := range registryModules {
		if v := hklmString(r.key, r.value); v != "" {
			candidates = append(candidates, r.module(v))
		}
	}
	if len(roots) > 0 {
		for _, m := range systemModules {
			candidates = append(candidates, filepath.Join(roots[0], m))
		}
	}
	for _, root := range roots[1:] {
		for _, m := range programFilesModules {
			candidates = append(candidates, filepath.Join(root, m))
		}
	}
	var found []string
	seen := map[string]bool{}
	for _, p := range candidates {
		key := strings.ToLower(filepath.Clean(p))
		if seen[key] || !underRoot(p, roots) {
			continue
		}
		seen[key] = true
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			found = append(found, p)
		}
	}
	return found
}

// trustedRoots are the folders modules may be discovered in: System32
// first, then Program Files (the 64-bit one; a 64-bit process cannot load
// the 32-bit DLLs of Program Files (x86)). Each is asked of Windows, not
// of environment variables.
func trustedRoots() []string {
	var roots []string
	if d, err := windows.GetSystemDirectory(); err == nil && d != "" {
		roots = append(roots, d)
	} else {
		return nil // without System32 the order above means nothing
	}
	if d, err := windows.KnownFolderPath(windows.FOLDERID_ProgramFiles, 0); err == nil && d != "" {
		roots = append(roots, d)
	}
	return roots
}

// underRoot reports whether p is an absolute path (with its drive) inside
// one of roots; a registry value pointing elsewhere is not followed.
func underRoot(p string, roots []string) bool {
	if !filepath.IsAbs(p) || filepath.VolumeName(p) == "" {
		return false
	}
	clean := strings.ToLower(filepath.Clean(p))
	for _, r := range roots {
		r = strings.ToLower(filepath.Clean(r))
		if strings.HasPrefix(clean, r+`\`) {
			return true
		}
	}
	return false
}

// hklmString reads a string value from the 64-bit view of HKLM.
func hklmString(key, value string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	v, _, err := k.GetStringValue(value)
	if err != nil {
		return ""
	}
	return v
}
