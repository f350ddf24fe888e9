//go:build unix

package sites

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func policyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	p := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func TestPolicyOwnerAndMode(t *testing.T) {
	good := policyFile(t, `{"locked":true}`, 0o644)
	if p, err := LoadPolicy(good); err != nil || !p.Locked {
		t.Fatalf("a policy of this user: %+v %v", p, err)
	}
	writable := policyFile(t, `{"allowedOrigins":["https://evil.example"]}`, 0o666)
	if _, err := LoadPolicy(writable); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("a world-writable policy: %v", err)
	}
	inOpenDir := policyFile(t, `{}`, 0o644)
	os.Chmod(filepath.Dir(inOpenDir), 0o777)
	if _, err := LoadPolicy(inOpenDir); err == nil {
		t.Fatal("a policy in a world-writable directory was used")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to give files to other users")
	}
	other := policyFile(t, `{"allowedOrigins":["https://evil.example"]}`, 0o644)
	os.Chown(other, 65534, 65534)
	if _, err := LoadPolicy(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("a policy of another user: %v", err)
	}
	if _, _, err := loadMachinePolicy(other, ""); err == nil {
		t.Fatal("a machine policy not owned by root was used")
	}
}

func TestOverrideCannotUnlockMachinePolicy(t *testing.T) {
	locked := policyFile(t, `{"locked":true,"blockOtherOrigins":true}`, 0o644)
	open := policyFile(t, `{}`, 0o644)
	mine := policyFile(t, `{"allowedOrigins":["https://mine.example"]}`, 0o644)
	if os.Getuid() != 0 {
		t.Skip("the machine policy must belong to root")
	}
	if _, _, err := loadMachinePolicy(locked, mine); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("--policy over a locked machine policy: %v", err)
	}
	if p, from, err := loadMachinePolicy(locked, ""); err != nil || !p.Locked || from != locked {
		t.Fatalf("machine policy: %+v %s %v", p, from, err)
	}
	p, from, err := loadMachinePolicy(open, mine)
	if err != nil || from != mine || len(p.AllowedOrigins) != 1 {
		t.Fatalf("--policy over an open machine policy: %+v %s %v", p, from, err)
	}
	if p, _, err := loadMachinePolicy(filepath.Join(t.TempDir(), "none.json"), mine); err != nil || len(p.AllowedOrigins) != 1 {
		t.Fatalf("--policy without a machine policy: %+v %v", p, err)
	}
}
