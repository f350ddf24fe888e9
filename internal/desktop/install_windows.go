package desktop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

const (
	runKey      = `Software\Microsoft\Windows\CurrentVersion\Run`
	protocolKey = `Software\Classes\cardbridge`
	commandKey  = protocolKey + `\shell\open\command`
	// msiKey is the MSI's own key: its Binary value is the key path of
	// the MSI component that holds cardbridge.exe. While it is there, the
	// registrations are the MSI's, and only the MSI removes them.
	msiKey = `Software\cardbridge`
)

// nativeHostKeys are the per-user registry keys browsers read manifests
// from; each default value is a manifest path.
var nativeHostKeys = []struct {
	key     string
	firefox bool
}{
	{`Software\Google\Chrome\NativeMessagingHosts\` + NativeHostName, false},
	{`Software\Chromium\NativeMessagingHosts\` + NativeHostName, false},
	{`Software\Microsoft\Edge\NativeMessagingHosts\` + NativeHostName, false},
	{`Software\BraveSoftware\Brave-Browser\NativeMessagingHosts\` + NativeHostName, false},
	{`Software\Mozilla\NativeMessagingHosts\` + NativeHostName, true},
}

// manifestDir is where install writes the browsers' manifests: a folder
// of its own, beside (never the same as) the folder the MSI installs into,
// so that uninstall can never remove the MSI's files.
func manifestDir() (string, error) {
	d, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil {
		return "", fmt.Errorf("local app data folder: %w", err)
	}
	return filepath.Join(d, "cardbridge", "nativehosts"), nil
}

// registrations are the registry values install writes for exe.
func registrations(exe, chrome, firefox string) []regValue {
	vals := []regValue{
		{protocolKey, "", "URL:cardbridge"},
		{protocolKey, "URL Protocol", ""},
		{commandKey, "", fmt.Sprintf(`"%s" open "%%1"`, exe)},
		{runKey, "cardbridge", `"` + exe + `"`},
	}
	for _, h := range nativeHostKeys {
		m := chrome
		if h.firefox {
			m = firefox
		}
		vals = append(vals, regValue{h.key, "", m})
	}
	return vals
}

type regValue struct{ key, name, value string }

// Install registers cardbridge for this user: the URL protocol under
// HKCU\Software\Classes, the Run key, and the native messaging hosts.
func Install(o Options) ([]Step, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	dir, err := manifestDir()
	if err != nil {
		return nil, err
	}
	chrome := filepath.Join(dir, NativeHostName+".chrome.json")
	firefox := filepath.Join(dir, NativeHostName+".firefox.json")
	var steps []Step
	if err := writeFile(chrome, chromeManifest(o.Exe), 0o644); err != nil {
		return steps, err
	}
	if err := writeFile(firefox, firefoxManifest(o.Exe), 0o644); err != nil {
		return steps, err
	}
	steps = append(steps, Step{"native host manifests", dir})
	for _, v := range registrations(o.Exe, chrome, firefox) {
		if err := setString(v.key, v.name, v.value); err != nil {
			return steps, err
		}
		switch v.key {
		case commandKey:
			steps = append(steps, Step{"cardbridge:// handler", `HKCU\` + protocolKey})
		case runKey:
			steps = append(steps, Step{"start at login", `HKCU\` + runKey})
		case protocolKey:
		default:
			steps = append(steps, Step{"native messaging host", `HKCU\` + v.key})
		}
	}
	return steps, nil
}

// Uninstall removes what Install wrote for this binary, and nothing else:
// a registration that names another program, or that the MSI made, is
// left and reported in the error, as is anything it failed to remove.
func Uninstall(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	dir, err := manifestDir()
	if err != nil {
		return err
	}
	chrome := filepath.Join(dir, NativeHostName+".chrome.json")
	firefox := filepath.Join(dir, NativeHostName+".firefox.json")
	msi := keyHasValue(msiKey, "Binary")
	var errs []error
	left := func(what, why string) { errs = append(errs, fmt.Errorf("left %s: %s", what, why)) }
	for _, v := range registrations(o.Exe, chrome, firefox) {
		if v.key == protocolKey {
			continue // goes with the command key, below
		}
		where := `HKCU\` + v.key
		if v.name != "" {
			where += ` (` + v.name + `)`
		}
		got, ok := getString(v.key, v.name)
		switch {
		case !ok:
			continue
		case !strings.EqualFold(got, v.value): // paths on Windows ignore case
			left(where, fmt.Sprintf("it names %s, not this cardbridge", got))
			continue
		case msi && v.key != runKey && v.key != commandKey:
			// Native hosts name manifests of ours only; the MSI's are elsewhere.
		case msi:
			left(where, "the cardbridge MSI installed it; remove cardbridge under Settings > Apps")
			continue
		}
		var err error
		switch v.key {
		case runKey:
			err = deleteValue(v.key, v.name)
		case commandKey:
			err = deleteKeys(commandKey, protocolKey+`\shell\open`, protocolKey+`\shell`, protocolKey)
		default:
			err = deleteKeys(v.key)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", where, err))
		}
	}
	for _, f := range []string{chrome, firefox, dir} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// SetAutostart adds or removes cardbridge in the user's Run key.
func SetAutostart(o Options, on bool) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	if on {
		return `HKCU\` + runKey, setString(runKey, "cardbridge", `"`+o.Exe+`"`)
	}
	return `HKCU\` + runKey, deleteValue(runKey, "cardbridge")
}

// AutostartEnabled reports whether the Run key names cardbridge.
func AutostartEnabled(o Options) bool { return keyHasValue(runKey, "cardbridge") }
