package desktop

import (
	"fmt"
	"path/filepath"
)

// SystemFiles writes, under root, the files a system-wide Linux package
// installs for every user: the URL handler's desktop entry, the XDG
// autostart entry, and the browsers' system native messaging manifests.
// exe is where the package puts the binary. The .deb is built from them.
func SystemFiles(root, exe string) ([]Step, error) {
	var steps []Step
	write := func(what, path string, body []byte) error {
		full := filepath.Join(root, path)
		if err := writeFile(full, body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
		steps = append(steps, Step{what, "/" + path})
		return nil
	}
	handler := fmt.Sprintf("[Desktop Entry]\nType=Application\nName=cardbridge\nComment=Connects web portals to your smart cards\nExec=%s open %%u\nTerminal=false\nNoDisplay=true\nMimeType=x-scheme-handler/cardbridge;\nCategories=System;Security;\n", quoteExec(exe))
	if err := write("cardbridge:// handler", "usr/share/applications/cardbridge.desktop", []byte(handler)); err != nil {
		return steps, err
	}
	autostart := fmt.Sprintf("[Desktop Entry]\nType=Application\nName=cardbridge\nComment=Smart cards for web portals\nExec=%s\nTerminal=false\nNoDisplay=true\nX-GNOME-Autostart-enabled=true\n", quoteExec(exe))
	if err := write("start at login", "etc/xdg/autostart/cardbridge.desktop", []byte(autostart)); err != nil {
		return steps, err
	}
	for _, dir := range []string{
		"etc/opt/chrome/native-messaging-hosts",
		"etc/chromium/native-messaging-hosts",
		"etc/opt/edge/native-messaging-hosts",
		"etc/opt/brave.com/brave/native-messaging-hosts",
	} {
		if err := write("native messaging host", filepath.Join(dir, NativeHostName+".json"), chromeManifest(exe)); err != nil {
			return steps, err
		}
	}
	err := write("native messaging host", filepath.Join("usr/lib/mozilla/native-messaging-hosts", NativeHostName+".json"), firefoxManifest(exe))
	return steps, err
}
