// Package sites decides which web origins may talk to cardbridge: the
// scheme rule every origin must pass, the Host rule that defeats DNS
// rebinding, and the user's stored decisions.
package sites

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrBadOrigin is returned for an origin that can never be allowed.
var ErrBadOrigin = errors.New("origin not allowed")

// Canonical checks origin against the scheme rule and returns it in the
// form browsers send: lower-case scheme and host, no default port. Only
// https origins pass, plus http://localhost and http://127.0.0.1 on any
// port for development. Hosts are ASCII: international names only in
// punycode (xn--), which is also how dialogs show them, so that a
// look-alike letter cannot pass for another site.
func Canonical(origin string) (string, error) {
	if origin == "" || origin == "null" {
		return "", fmt.Errorf("%w: origin is missing or opaque", ErrBadOrigin)
	}
	// Browsers send origins in ASCII, with international names in
	// punycode and nothing percent-encoded. Anything else did not come
	// from a browser's Origin header, and would be shown to the user
	// in a form that could pass for another site.
	if len(origin) > 300 {
		return "", fmt.Errorf("%w: origin is longer than 300 bytes", ErrBadOrigin)
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '\\' {
			return "", fmt.Errorf("%w: %q holds a character browsers never send in an origin (non-ASCII, space, control, %% or \\)", ErrBadOrigin, origin)
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return "", fmt.Errorf("%w: %q is not an origin", ErrBadOrigin, origin)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if err := checkASCIIHost(origin, host); err != nil {
		return "", err
	}
	port := u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: %q has a bad port", ErrBadOrigin, origin)
		}
	}
	switch {
	case scheme == "https":
		if port == "443" {
			port = ""
		}
	case scheme == "http" && (host == "localhost" || host == "127.0.0.1"):
		if port == "80" {
			port = ""
		}
	default:
		return "", fmt.Errorf("%w: %q must be https (or http://localhost for development)", ErrBadOrigin, origin)
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

// HostOK reports whether a request's Host header names the loopback
// listener on port, as a browser that really meant cardbridge sends it. Any
// other name, even one that resolves to 127.0.0.1, is a DNS rebinding
// attempt.
func HostOK(host string, port int) bool {
	p := strconv.Itoa(port)
	switch strings.ToLower(host) {
	case "127.0.0.1:" + p, "localhost:" + p, "[::1]:" + p:
		return true
	}
	return false
}

// Store keeps the user's decisions about origins in the config dir, plus
// origins approved in advance (flags or policy), which are never written.
type Store struct {
	path   string
	policy Policy

	mu          sync.Mutex
	allowed     []string
	preapproved []string
}

// Decision is what the store says about an origin.
type Decision int

// Decisions.
const (
	Ask Decision = iota
	Allowed
	Refused // by policy, without asking
)

// ErrLocked refuses a change the policy does not allow.
var ErrLocked = errors.New("your administrator's policy does not allow changing this")

type file struct {
	Allowed []string `json:"allowed"`
}

// Open reads the store in dir, creating nothing until the first decision.
// policy may be nil.
func Open(dir string, preapproved []string, policy *Policy) (*Store, error) {
	s := &Store{path: filepath.Join(dir, "sites.json")}
	if policy != nil {
		s.policy = *policy
	}
	if s.policy.Locked {
		preapproved = nil
	}
	for _, o := range preapproved {
		c, err := Canonical(o)
		if err != nil {
			return nil, fmt.Errorf("pre-approved origin: %w", err)
		}
		s.preapproved = append(s.preapproved, c)
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) || s.policy.Locked {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read allowed sites: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read allowed sites from %s: %w", s.path, err)
	}
	for _, o := range f.Allowed {
		if c, err := Canonical(o); err == nil {
			s.allowed = append(s.allowed, c)
		}
	}
	return s, nil
}

// Check says whether origin (canonical) may use cardbridge, must be
// asked about, or is refused by policy.
func (s *Store) Check(origin string) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case slices.Contains(s.policy.AllowedOrigins, origin):
		return Allowed
	case s.policy.BlockOtherOrigins:
		return Refused
	case slices.Contains(s.preapproved, origin) || slices.Contains(s.allowed, origin):
		return Allowed
	}
	return Ask
}

// Allowed reports whether origin may use cardbridge without asking.
func (s *Store) Allowed(origin string) bool { return s.Check(origin) == Allowed }

// Policy is the machine policy in force.
func (s *Store) Policy() Policy { return s.policy }

// Allow records the user's approval of origin. Under a locked policy the
// approval holds for the moment only.
func (s *Store) Allow(origin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.allowed, origin) {
		return nil
	}
	if s.policy.Locked {
		return nil
	}
	s.allowed = append(s.allowed, origin)
	return s.save()
}

// Remove forgets the user's approval of origin.
func (s *Store) Remove(origin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.policy.Locked {
		return ErrLocked
	}
	i := slices.Index(s.allowed, origin)
	if i < 0 {
		return nil
	}
	s.allowed = slices.Delete(s.allowed, i, i+1)
	return s.save()
}

// List returns the origins the user allowed.
func (s *Store) List() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.allowed)
}

// save writes the file atomically and readable by the user only.
func (s *Store) save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("save allowed sites: %w", err)
	}
	b, err := json.MarshalIndent(file{Allowed: s.allowed}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".sites-*.json")
	if err != nil {
		return fmt.Errorf("save allowed sites: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save allowed sites: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save allowed sites: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save allowed sites: %w", err)
	}
	return nil
}
