package sites

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://portal.example", "https://portal.example"},
		{"HTTPS://Portal.Example:443", "https://portal.example"},
		{"https://portal.example:8443", "https://portal.example:8443"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://127.0.0.1", "http://127.0.0.1"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"https://[::1]:4443", "https://[::1]:4443"},
		{"http://portal.example", ""},         // plain http off localhost
		{"http://localhost.evil.example", ""}, // not localhost
		{"http://[::1]:8080", ""},
		{"null", ""},
		{"", ""},
		{"file://", ""},
		{"chrome-extension://abc", ""},
		{"https://portal.example/path", ""},
		{"https://user@portal.example", ""},
		{"https://portal.example:99999", ""},
		{"https://portal.example?x=1", ""},
	}
	for _, tt := range tests {
		got, err := Canonical(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrBadOrigin) {
				t.Errorf("Canonical(%q) = %q, %v; want refusal", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestHostOK(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:47150", true},
		{"localhost:47150", true},
		{"LOCALHOST:47150", true},
		{"[::1]:47150", true},
		{"127.0.0.1:47151", false},
		{"127.0.0.1", false},
		{"evil.example:47150", false}, // DNS rebinding
		{"127.0.0.2:47150", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := HostOK(tt.host, 47150); got != tt.ok {
			t.Errorf("HostOK(%q) = %v", tt.host, got)
		}
	}
}

func TestStorePersistsPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	s, err := Open(dir, []string{"https://pre.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Allowed("https://pre.example") || s.Allowed("https://new.example") {
		t.Fatal("pre-approval wrong")
	}
	if err := s.Allow("https://new.example"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sites.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sites.json: %v %v", fi, err)
	}
	s2, err := Open(dir, nil)
	if err != nil || !s2.Allowed("https://new.example") || s2.Allowed("https://pre.example") {
		t.Fatalf("reopened store: %v %v", s2.List(), err)
	}
	if err := s2.Remove("https://new.example"); err != nil || s2.Allowed("https://new.example") {
		t.Fatal("remove failed")
	}
	if _, err := Open(dir, []string{"http://evil.example"}); err == nil {
		t.Fatal("plain-http pre-approval accepted")
	}
}
