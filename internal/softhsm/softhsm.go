// Package softhsm creates SoftHSM2 tokens in a directory of their own. The
// demo uses it for its demo card when no real card is present, and the tests
// use it to give every test a fresh, real PKCS#11 token.
//
// SoftHSM2 reads SOFTHSM2_CONF once, in C_Initialize, so a process sees the
// tokens of the configuration that was set when the module was initialised.
package softhsm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Well-known install locations of the SoftHSM2 module, Debian first.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// ErrNotInstalled is returned when the SoftHSM2 module or softhsm2-util is
// missing.
var ErrNotInstalled = errors.New("softhsm2 is not installed (apt-get install softhsm2)")

// Module returns the path of the installed SoftHSM2 PKCS#11 module.
func Module() (string, error) {
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		return p, nil
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Token describes a token created by Create.
type Token struct {
	Conf   string // path of its softhsm2.conf; set SOFTHSM2_CONF to it
	Module string // path of the PKCS#11 module
	Label  string
	Serial string
	PIN    string
	SOPIN  string
}

// Config writes a softhsm2.conf whose token directory lives in dir, and
// returns its path. It keeps existing tokens.
func Config(dir string) (string, error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", fmt.Errorf("create softhsm2 token dir: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("write softhsm2.conf: %w", err)
	}
	return conf, nil
}

// Create initialises a new token with the given label and PINs in the token
// directory of dir, creating the configuration if needed.
func Create(dir, label, pin, soPIN string) (*Token, error) {
	module, err := Module()
	if err != nil {
		return nil, err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, ErrNotInstalled
	}
	conf, err := Config(dir)
	if err != nil {
		return nil, err
	}
	out, err := run(conf, util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPIN)
	if err != nil {
		return nil, fmt.Errorf("init softhsm2 token %q: %w: %s", label, err, out)
	}
	serial, err := SerialOf(conf, label)
	if err != nil {
		return nil, err
	}
	return &Token{Conf: conf, Module: module, Label: label, Serial: serial, PIN: pin, SOPIN: soPIN}, nil
}

// SerialOf returns the serial of the token with the given label. SoftHSM
// renumbers slots after initialisation, so the label is the stable handle.
func SerialOf(conf, label string) (string, error) {
	out, err := run(conf, "softhsm2-util", "--show-slots")
	if err != nil {
		return "", fmt.Errorf("list softhsm2 slots: %w: %s", err, out)
	}
	// The output has one block per slot, each starting with "Slot N".
	var serial string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Slot ") {
			serial = ""
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Serial number":
			serial = strings.TrimSpace(v)
		case "Label":
			if strings.TrimSpace(v) == label && serial != "" {
				return serial, nil
			}
		}
	}
	return "", fmt.Errorf("softhsm2 token %q not found", label)
}

// Delete removes the token with the given serial, the way a card leaves its
// reader.
func Delete(conf, serial string) error {
	out, err := run(conf, "softhsm2-util", "--delete-token", "--serial", serial)
	if err != nil {
		return fmt.Errorf("delete softhsm2 token %s: %w: %s", serial, err, out)
	}
	return nil
}

func run(conf, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func init() {
	if runtime.GOOS == "windows" {
		modulePaths = []string{`C:\SoftHSM2\lib\softhsm2-x64.dll`}
	}
}
