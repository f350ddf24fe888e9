package link

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, in := range []string{"cardbridge://start", "cardbridge://start/", "CARDBRIDGE://Start", "cardbridge:start", "cardbridge:start/"} {
		if err := Check(in); err != nil {
			t.Errorf("Check(%q): %v", in, err)
		}
	}
	bad := []string{
		"https://start", "cardbridge://", "cardbridge:", "cardbridge://start?x=1", "cardbridge://start?", "cardbridge://start#x",
		"cardbridge://start:80", "cardbridge://user@start", "cardbridge://start/extra", "cardbridge:start/extra", "cardbridge:start?x",
		// Method links are gone: a link cannot say whose request it is.
		"cardbridge://sign?params=e30&callback=https://portal.example/cb",
		"cardbridge://system.info?callback=http://localhost:1/x",
		"cardbridge://keys.delete?params=e30&callback=https%3A%2F%2Fportal.example%2Fcb",
		"cardbridge://" + strings.Repeat("a", MaxLength),
	}
	for _, in := range bad {
		if err := Check(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%.60q) accepted: %v", in, err)
		}
	}
	// The error never repeats the link's data.
	if err := Check("cardbridge://sign?params=c2VjcmV0&callback=https://portal.example/cb?token=s3cr3t"); err == nil ||
		strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("error = %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("cardbridge://start")
	f.Add("cardbridge://sign?params=e30&callback=https://portal.example/x")
	f.Add("cardbridge:%00//")
	f.Fuzz(func(t *testing.T, in string) {
		if Check(in) == nil && !strings.EqualFold(strings.TrimRight(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(in), "cardbridge:"), "//"), "/"), "start") {
			t.Fatalf("accepted %q", in)
		}
	})
}
