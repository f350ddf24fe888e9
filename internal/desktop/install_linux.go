package desktop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"
)

func dataHome(o Options) string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d
	}
	return filepath.Join(o.Home, ".local", "share")
}

func configHome(o Options) string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	return filepath.Join(o.Home, ".config")
}

func desktopFile(o Options) string {
	return filepath.Join(dataHome(o), "applications", "cardbridge.desktop")
}

func autostartFile(o Options) string {
	return filepath.Join(configHome(o), "autostart", "cardbridge.desktop")
}

// nativeHostDirs are the per-user manifest folders of Chrome, Chromium,
// Edge, Brave and Firefox.
func nativeHostDirs(o Options) (chrome []string, firefox string) {
	c := configHome(o)
	return []string{
		filepath.Join(c, "google-chrome", "NativeMessagingHosts"),
		filepath.Join(c, "chromium", "NativeMessagingHosts"),
		filepath.Join(c, "microsoft-edge", "NativeMessagingHosts"),
		filepath.Join(c, "BraveSoftware", "Brave-Browser", "NativeMessagingHosts"),
	}, filepath.Join(o.Home, ".mozilla", "native-messaging-hosts")
}

// quoteExec quotes a path for a .desktop Exec line, only when it must:
// xdg-open's generic opener reads the first word without unquoting.
func quoteExec(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == "" {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "$", `\$`)
	return `"` + r.Replace(s) + `"`
}

// Install registers cardbridge for this user.
func Install(o Options) ([]Step, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	var steps []Step
	df := desktopFile(o)
	entry := fmt.Sprintf(`[Desktop Entry]
Type=Application
Name=cardbridge
Comment=Connects web portals to your smart cards
Exec=%s open %%u
Terminal=false
NoDisplay=true
MimeType=x-scheme-handler/cardbridge;
Categories=System;Security;
`, quoteExec(o.Exe))
	if err := writeFile(df, []byte(entry), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", df, err)
	}
	steps = append(steps, Step{"cardbridge:// handler", df})
	if out, err := exec.Command("xdg-mime", "default", "cardbridge.desktop", "x-scheme-handler/cardbridge").CombinedOutput(); err != nil {
		return steps, fmt.Errorf("xdg-mime default: %v: %s (install xdg-utils)", err, out)
	}
	exec.Command("update-desktop-database", filepath.Dir(df)).Run()
	return finishInstall(o, steps)
}

// Uninstall removes everything Install wrote.
func Uninstall(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	var errs []error
	SetAutostart(o, false)
	rm := func(p string) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	rm(desktopFile(o))
	exec.Command("update-desktop-database", filepath.Dir(desktopFile(o))).Run()
	// xdg-mime has no "unset"; drop our line from mimeapps.list.
	mimeapps := filepath.Join(configHome(o), "mimeapps.list")
	if b, err := os.ReadFile(mimeapps); err == nil {
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "x-scheme-handler/cardbridge=") {
				keep = append(keep, line)
			}
		}
		os.WriteFile(mimeapps, []byte(strings.Join(keep, "\n")), 0o644)
	}
	chrome, firefox := nativeHostDirs(o)
	for _, d := range append(chrome, firefox) {
		rm(filepath.Join(d, NativeHostName+".json"))
	}
	return errors.Join(errs...)
}

// systemdUnit is the user unit's template (kardianos/service syntax). It
// is hardened: no new privileges, private files, and binding only the
// loopback API ports. Outbound connections stay open for link callbacks.
const systemdUnit = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
After=graphical-session.target

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
Restart=on-failure
RestartSec=5
NoNewPrivileges=yes
UMask=0077
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SocketBindAllow=tcp:47150-47154
SocketBindDeny=any

[Install]
WantedBy=default.target
`

func userService(o Options) (service.Service, error) {
	return service.New(nil, &service.Config{
		Name:        "cardbridge",
		DisplayName: "cardbridge",
		Description: "cardbridge: smart cards for web portals",
		Executable:  o.Exe,
		Option:      service.KeyValue{"UserService": true, "SystemdScript": systemdUnit},
	})
}

// systemdUser reports whether this user has a systemd user manager.
func systemdUser() bool {
	if service.Platform() != "linux-systemd" {
		return false
	}
	return exec.Command("systemctl", "--user", "show-environment").Run() == nil
}

// SetAutostart turns start at login on or off: a systemd user unit where
// the user has a systemd manager, an XDG autostart entry otherwise.
func SetAutostart(o Options, on bool) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	if systemdUser() {
		s, err := userService(o)
		if err == nil {
			if on {
				if err = s.Install(); err == nil || strings.Contains(err.Error(), "already exists") {
					return "systemd --user unit cardbridge.service", nil
				}
			} else {
				s.Uninstall()
			}
		}
	}
	af := autostartFile(o)
	if !on {
		if err := os.Remove(af); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return af, nil
	}
	entry := fmt.Sprintf("[Desktop Entry]\nType=Application\nName=cardbridge\nComment=Smart cards for web portals\nExec=%s\nTerminal=false\nNoDisplay=true\nX-GNOME-Autostart-enabled=true\n", quoteExec(o.Exe))
	if err := writeFile(af, []byte(entry), 0o644); err != nil {
		return "", err
	}
	return af, nil
}

// AutostartEnabled reports whether cardbridge starts at login.
func AutostartEnabled(o Options) bool {
	if err := o.fill(); err != nil {
		return false
	}
	if _, err := os.Stat(autostartFile(o)); err == nil {
		return true
	}
	if systemdUser() {
		return exec.Command("systemctl", "--user", "is-enabled", "--quiet", "cardbridge.service").Run() == nil
	}
	return false
}
