package sites

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Policy is the machine-wide policy an administrator sets. The user's own
// choices never override it.
type Policy struct {
	// AllowedOrigins are approved in advance and cannot be removed.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// BlockOtherOrigins refuses every other origin without asking.
	BlockOtherOrigins bool `json:"blockOtherOrigins,omitempty"`
	// AllowedModules, when set, are the only PKCS#11 modules that load.
	AllowedModules []string `json:"allowedModules,omitempty"`
	// Locked makes the user's own settings count for nothing: their stored
	// sites, --allow-origin and --module are ignored, the tray cannot
	// change settings, and consent given to a new site is not remembered.
	Locked bool `json:"locked,omitempty"`
}

// DefaultPolicyPath is where administrators put the policy.
func DefaultPolicyPath() string {
	switch runtime.GOOS {
	case "windows":
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "cardbridge", "policy.json")
	case "darwin":
		return "/Library/Application Support/cardbridge/policy.json"
	}
	return "/etc/cardbridge/policy.json"
}

// LoadPolicy reads the policy at path, which must belong to root or to
// this user and be writable by nobody else. A missing file is an empty
// policy; a broken or untrusted one is an error, since silently ignoring
// an administrator's restrictions would be worse than not starting.
func LoadPolicy(path string) (*Policy, error) { return loadPolicy(path, false) }

// LoadMachinePolicy reads the machine policy, which is used only when
// root owns it and nobody else can write it or its directory (another
// account could otherwise approve sites for every user). A policy file
// named with --policy (override) replaces it, unless the machine policy
// is locked: a user cannot unlock what the administrator locked. It
// returns the policy and the file it came from.
func LoadMachinePolicy(override string) (*Policy, string, error) {
	return loadMachinePolicy(DefaultPolicyPath(), override)
}

func loadMachinePolicy(machine, override string) (*Policy, string, error) {
	p, err := loadPolicy(machine, true)
	if err != nil || override == "" || override == machine {
		return p, machine, err
	}
	if p.Locked {
		return nil, machine, fmt.Errorf("the machine policy %s is locked; --policy cannot replace it", machine)
	}
	p, err = LoadPolicy(override)
	return p, override, err
}

func loadPolicy(path string, rootOnly bool) (*Policy, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Policy{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", path, err)
	}
	defer f.Close()
	// The open file is checked, not the name, so that it cannot be
	// swapped between the check and the read.
	if err := checkPolicyOwner(f, path, rootOnly); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", path, err)
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read policy %s: %w", path, err)
	}
	for i, o := range p.AllowedOrigins {
		c, err := Canonical(o)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", path, err)
		}
		p.AllowedOrigins[i] = c
	}
	return &p, nil
}

// ModuleAllowed reports whether the policy lets path load.
func (p *Policy) ModuleAllowed(path string) bool {
	if len(p.AllowedModules) == 0 {
		return true
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	for _, m := range p.AllowedModules {
		r, err := filepath.EvalSymlinks(m)
		if err != nil {
			r = m
		}
		if r == real {
			return true
		}
	}
	return false
}
