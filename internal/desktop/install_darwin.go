package desktop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

func launchAgent(o Options) string {
	return filepath.Join(o.Home, "Library", "LaunchAgents", "app.cardbridge.plist")
}

func appBundle(o Options) string {
	return filepath.Join(o.Home, "Applications", "cardbridge.app")
}

func nativeHostDirs(o Options) (chrome []string, firefox string) {
	as := filepath.Join(o.Home, "Library", "Application Support")
	return []string{
		filepath.Join(as, "Google", "Chrome", "NativeMessagingHosts"),
		filepath.Join(as, "Chromium", "NativeMessagingHosts"),
		filepath.Join(as, "Microsoft Edge", "NativeMessagingHosts"),
		filepath.Join(as, "BraveSoftware", "Brave-Browser", "NativeMessagingHosts"),
	}, filepath.Join(as, "Mozilla", "NativeMessagingHosts")
}

// Install registers cardbridge for this user: an app bundle in
// ~/Applications whose Info.plist claims the cardbridge URL scheme, a
// LaunchAgent for start at login, and the native messaging hosts.
//
// macOS hands URLs to an app through an Apple Event rather than its
// arguments; the bundle's launcher script starts cardbridge, and pages
// then reach it over WebSocket (cardbridge://start).
func Install(o Options) ([]Step, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	var steps []Step
	app := appBundle(o)
	plist := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>CFBundleIdentifier</key><string>app.cardbridge</string>
  <key>CFBundleName</key><string>cardbridge</string>
  <key>CFBundleExecutable</key><string>cardbridge-launcher</string>
  <key>CFBundlePackageType</key><string>APPL</string>
  <key>LSUIElement</key><true/>
  <key>CFBundleURLTypes</key><array><dict>
    <key>CFBundleURLName</key><string>cardbridge link</string>
    <key>CFBundleURLSchemes</key><array><string>cardbridge</string></array>
  </dict></array>
</dict></plist>
`
	if err := writeFile(filepath.Join(app, "Contents", "Info.plist"), []byte(plist), 0o644); err != nil {
		return nil, err
	}
	launcher := fmt.Sprintf("#!/bin/sh\nexec %q open cardbridge://start\n", o.Exe)
	if err := writeFile(filepath.Join(app, "Contents", "MacOS", "cardbridge-launcher"), []byte(launcher), 0o755); err != nil {
		return nil, err
	}
	exec.Command("/System/Library/Frameworks/CoreServices.framework/Frameworks/LaunchServices.framework/Support/lsregister", "-f", app).Run()
	steps = append(steps, Step{"cardbridge:// handler", app})
	return finishInstall(o, steps)
}

// Uninstall removes everything Install wrote.
func Uninstall(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	SetAutostart(o, false)
	var errs []error
	if err := os.RemoveAll(appBundle(o)); err != nil {
		errs = append(errs, err)
	}
	chrome, firefox := nativeHostDirs(o)
	for _, d := range append(chrome, firefox) {
		if err := os.Remove(filepath.Join(d, NativeHostName+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetAutostart writes or removes the LaunchAgent.
func SetAutostart(o Options, on bool) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	p := launchAgent(o)
	if !on {
		exec.Command("launchctl", "unload", p).Run()
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return p, nil
	}
	agent := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>app.cardbridge</string>
  <key>ProgramArguments</key><array><string>%s</string></array>
  <key>RunAtLoad</key><true/>
  <key>ProcessType</key><string>Interactive</string>
</dict></plist>
`, o.Exe)
	return p, writeFile(p, []byte(agent), 0o644)
}

// AutostartEnabled reports whether the LaunchAgent exists.
func AutostartEnabled(o Options) bool {
	if err := o.fill(); err != nil {
		return false
	}
	_, err := os.Stat(launchAgent(o))
	return err == nil
}
