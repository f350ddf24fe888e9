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
	s, err := Open(dir, []string{"https://pre.example"}, nil)
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
	s2, err := Open(dir, nil, nil)
	if err != nil || !s2.Allowed("https://new.example") || s2.Allowed("https://pre.example") {
		t.Fatalf("reopened store: %v %v", s2.List(), err)
	}
	if err := s2.Remove("https://new.example"); err != nil || s2.Allowed("https://new.example") {
		t.Fatal("remove failed")
	}
	if _, err := Open(dir, []string{"http://evil.example"}, nil); err == nil {
		t.Fatal("plain-http pre-approval accepted")
	}
}

func TestPolicyOverridesTheUser(t *testing.T) {
	dir := t.TempDir()
	user, _ := Open(dir, nil, nil)
	user.Allow("https://mine.example")
	pol := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(pol, []byte(`{"allowedOrigins":["HTTPS://Corp.Example"],"blockOtherOrigins":true,"allowedModules":["/usr/lib/x.so"],"locked":true}`), 0o644)
	p, err := LoadPolicy(pol)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, []string{"https://flag.example"}, p)
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]Decision{"https://corp.example": Allowed, "https://mine.example": Refused, "https://flag.example": Refused, "https://new.example": Refused} {
		if got := s.Check(origin); got != want {
			t.Errorf("Check(%s) = %v, want %v", origin, got, want)
		}
	}
	if err := s.Remove("https://mine.example"); !errors.Is(err, ErrLocked) {
		t.Errorf("Remove under a locked policy: %v", err)
	}
	if p.ModuleAllowed("/usr/lib/y.so") || !p.ModuleAllowed("/usr/lib/x.so") {
		t.Error("module filter wrong")
	}
	if _, err := LoadPolicy(writeFile(t, "{broken")); err == nil {
		t.Error("a broken policy was accepted")
	}
	if p, err := LoadPolicy(filepath.Join(t.TempDir(), "none.json")); err != nil || p.Locked {
		t.Errorf("missing policy: %+v %v", p, err)
	}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(p, []byte(content), 0o644)
	return p
}
