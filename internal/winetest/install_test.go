package winetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	commandKey = `HKCU\Software\Classes\cardbridge\shell\open\command`
	runKey     = `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`
	chromeKey  = `HKCU\Software\Google\Chrome\NativeMessagingHosts\app.cardbridge`
	firefoxKey = `HKCU\Software\Mozilla\NativeMessagingHosts\app.cardbridge`
)

// regQuery asks Wine's reg.exe; ok is false when the key or value is not
// there.
func regQuery(t *testing.T, key string, value ...string) (string, bool) {
	t.Helper()
	args := []string{"reg", "query", key}
	if len(value) > 0 {
		args = append(args, "/v", value[0])
	}
	out, err := wine(t, args...)
	return out, err == nil
}

// installedExe is the cardbridge.exe under test, copied to C: as a user
// would run it.
func installedExe(t *testing.T) (linux, windows string) {
	dir := filepath.Join(driveC, "Downloads")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, "cardbridge.exe")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p, `C:\Downloads\cardbridge.exe`
}

func TestInstallUninstall(t *testing.T) {
	need(t)
	_, win := installedExe(t)
	out, err := wine(t, win, "install", "--user")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if v, ok := regQuery(t, commandKey); !ok || !strings.Contains(v, win) {
		t.Fatalf("no URL handler after install:\n%s\n%s", out, v)
	}
	if v, ok := regQuery(t, runKey, "cardbridge"); !ok || !strings.Contains(v, win) {
		t.Fatalf("no Run entry after install:\n%s", v)
	}
	for _, k := range []string{chromeKey, firefoxKey} {
		v, ok := regQuery(t, k)
		if !ok || !strings.Contains(v, `cardbridge\nativehosts\app.cardbridge`) {
			t.Fatalf("no native host %s:\n%s", k, v)
		}
	}
	out, err = wine(t, win, "uninstall")
	if err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	for _, k := range []string{commandKey, chromeKey, firefoxKey, `HKCU\Software\Classes\cardbridge`} {
		if v, ok := regQuery(t, k); ok {
			t.Errorf("uninstall left %s:\n%s", k, v)
		}
	}
	if v, ok := regQuery(t, runKey, "cardbridge"); ok {
		t.Errorf("uninstall left the Run entry:\n%s", v)
	}
}

// TestMSI installs the MSI per user with msiexec, checks that cardbridge's
// own uninstall leaves what the MSI installed (and says so), upgrades it
// with a newer MSI, and removes it all with msiexec.
func TestMSI(t *testing.T) {
	need(t)
	if msi == "" {
		t.Skip("set CARDBRIDGE_WINE_MSI to the MSI (task test:windows does)")
	}
	if out, err := wine(t, "msiexec", "/i", winPath(msi), "/qn"); err != nil {
		t.Fatalf("msiexec /i: %v\n%s", err, out)
	}
	appData, ok := localAppData(t)
	if !ok {
		t.Fatal("no LOCALAPPDATA in the prefix")
	}
	installed := filepath.Join(appData, "cardbridge", "cardbridge.exe")
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("the MSI installed no %s: %v", installed, err)
	}
	for _, k := range []string{commandKey, chromeKey, firefoxKey} {
		if v, ok := regQuery(t, k); !ok {
			t.Fatalf("the MSI wrote no %s:\n%s", k, v)
		}
	}
	out, err := wine(t, filepath.Join(`C:\`, strings.TrimPrefix(strings.ReplaceAll(strings.TrimPrefix(installed, driveC), "/", `\`), `\`)), "uninstall")
	if err == nil || !strings.Contains(out, "MSI") {
		t.Errorf("uninstall over the MSI should fail and name the MSI:\n%s", out)
	}
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("uninstall removed the MSI's binary: %v", err)
	}
	if _, ok := regQuery(t, commandKey); !ok {
		t.Fatalf("uninstall removed the MSI's URL handler")
	}
	// A newer MSI replaces the older one (MajorUpgrade): afterwards the
	// old package is no longer installed, and the new one removes all.
	newer := filepath.Join(t.TempDir(), "cardbridge-99.0.0.msi")
	build := exec.Command("wixl", "-a", "x64", "-D", "Version=99.0.0", "-o", newer, "installer/windows/cardbridge.wxs")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, out)
	}
	if out, err := wine(t, "msiexec", "/i", winPath(newer), "/qn"); err != nil {
		t.Fatalf("msiexec /i (upgrade): %v\n%s", err, out)
	}
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("the upgrade left no %s: %v", installed, err)
	}
	if out, err := wine(t, "msiexec", "/x", winPath(msi), "/qn"); err == nil {
		t.Errorf("the older MSI is still installed after the upgrade:\n%s", out)
	}
	if out, err := wine(t, "msiexec", "/x", winPath(newer), "/qn"); err != nil {
		t.Fatalf("msiexec /x: %v\n%s", err, out)
	}
	if _, err := os.Stat(installed); err == nil {
		t.Errorf("msiexec /x left %s", installed)
	}
	for _, k := range []string{commandKey, chromeKey, firefoxKey, `HKCU\Software\cardbridge`} {
		if v, ok := regQuery(t, k); ok {
			t.Errorf("msiexec /x left %s:\n%s", k, v)
		}
	}
}

// localAppData is %LOCALAPPDATA% of the prefix, on the Linux side.
func localAppData(t *testing.T) (string, bool) {
	out, err := exec.Command("wine", "cmd", "/c", "echo", "%LOCALAPPDATA%").Output()
	if err != nil {
		return "", false
	}
	p := strings.TrimSpace(stripWineNoise(string(out)))
	if !strings.HasPrefix(strings.ToUpper(p), `C:\`) {
		return "", false
	}
	return filepath.Join(driveC, strings.ReplaceAll(p[3:], `\`, "/")), true
}
