package desktop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/registry"
)

const (
	runKey      = `Software\Microsoft\Windows\CurrentVersion\Run`
	protocolKey = `Software\Classes\cardbridge`
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

func manifestDir() string {
	return filepath.Join(os.Getenv("LOCALAPPDATA"), "cardbridge")
}

func setString(path, name, value string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, path, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("registry %s: %w", path, err)
	}
	defer k.Close()
	return k.SetStringValue(name, value)
}

// Install registers cardbridge for this user: the URL protocol under
// HKCU\Software\Classes, the Run key, and the native messaging hosts.
func Install(o Options) ([]Step, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	var steps []Step
	for _, kv := range []struct{ path, name, value string }{
		{protocolKey, "", "URL:cardbridge"},
		{protocolKey, "URL Protocol", ""},
		{protocolKey + `\shell\open\command`, "", fmt.Sprintf(`"%s" open "%%1"`, o.Exe)},
	} {
		if err := setString(kv.path, kv.name, kv.value); err != nil {
			return steps, err
		}
	}
	steps = append(steps, Step{"cardbridge:// handler", `HKCU\` + protocolKey})
	where, err := SetAutostart(o, true)
	if err != nil {
		return steps, err
	}
	steps = append(steps, Step{"start at login", where})
	chrome := filepath.Join(manifestDir(), NativeHostName+".chrome.json")
	firefox := filepath.Join(manifestDir(), NativeHostName+".firefox.json")
	if err := writeFile(chrome, chromeManifest(o.Exe), 0o644); err != nil {
		return steps, err
	}
	if err := writeFile(firefox, firefoxManifest(o.Exe), 0o644); err != nil {
		return steps, err
	}
	for _, h := range nativeHostKeys {
		m := chrome
		if h.firefox {
			m = firefox
		}
		if err := setString(h.key, "", m); err != nil {
			return steps, err
		}
		steps = append(steps, Step{"native messaging host", `HKCU\` + h.key})
	}
	return steps, nil
}

// Uninstall removes everything Install wrote.
func Uninstall(o Options) error {
	var errs []error
	SetAutostart(o, false)
	for _, p := range []string{protocolKey + `\shell\open\command`, protocolKey + `\shell\open`, protocolKey + `\shell`, protocolKey} {
		if err := registry.DeleteKey(registry.CURRENT_USER, p); err != nil && !errors.Is(err, registry.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, h := range nativeHostKeys {
		registry.DeleteKey(registry.CURRENT_USER, h.key)
	}
	os.RemoveAll(manifestDir())
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
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return "", nil
	}
	defer k.Close()
	k.DeleteValue("cardbridge")
	return `HKCU\` + runKey, nil
}

// AutostartEnabled reports whether the Run key names cardbridge.
func AutostartEnabled(o Options) bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	defer k.Close()
	_, _, err = k.GetStringValue("cardbridge")
	return err == nil
}
