// Package desktop registers cardbridge with the operating system for the
// current user: the cardbridge:// URL handler, start at login, and the
// native messaging host manifests of Chromium-family browsers and Firefox.
// Each operating system has its own file; they all need no administrator.
package desktop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The extension's identities, pinned by the manifest's key (Chromium) and
// gecko id (Firefox), so that native host manifests can name them.
const (
	ChromeExtensionID = "lbbliobokjckpakbilehjmlondngalee"
	GeckoID           = "cardbridge@cardbridge.app"
	// NativeHostName is the name the extension passes to connectNative.
	NativeHostName = "app.cardbridge"
)

// Options say what to install.
type Options struct {
	Exe  string // the cardbridge binary; default: this one
	Home string // the user's home; default: os.UserHomeDir
}

func (o *Options) fill() error {
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if o.Exe, err = filepath.EvalSymlinks(exe); err != nil {
			return err
		}
	}
	if o.Home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return err
		}
		o.Home = h
	}
	return nil
}

// Step is one thing Install did, for the user to read.
type Step struct {
	What, Where string
}

// chromeManifest is a Chromium-family native messaging host manifest.
func chromeManifest(exe string) []byte {
	b, _ := json.MarshalIndent(map[string]any{
		"name":            NativeHostName,
		"description":     "cardbridge: smart cards for web portals",
		"path":            exe,
		"type":            "stdio",
		"allowed_origins": []string{fmt.Sprintf("chrome-extension://%s/", ChromeExtensionID)},
	}, "", "  ")
	return b
}

// firefoxManifest is Firefox's version of the same.
func firefoxManifest(exe string) []byte {
	b, _ := json.MarshalIndent(map[string]any{
		"name":               NativeHostName,
		"description":        "cardbridge: smart cards for web portals",
		"path":               exe,
		"type":               "stdio",
		"allowed_extensions": []string{GeckoID},
	}, "", "  ")
	return b
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, mode)
}

// writeNativeHosts writes the manifests into the browsers' folders.
func writeNativeHosts(chromeDirs []string, firefoxDir, exe string) ([]Step, error) {
	var steps []Step
	for _, d := range chromeDirs {
		p := filepath.Join(d, NativeHostName+".json")
		if err := writeFile(p, chromeManifest(exe), 0o644); err != nil {
			return steps, err
		}
		steps = append(steps, Step{"native messaging host", p})
	}
	p := filepath.Join(firefoxDir, NativeHostName+".json")
	if err := writeFile(p, firefoxManifest(exe), 0o644); err != nil {
		return steps, err
	}
	return append(steps, Step{"native messaging host", p}), nil
}
