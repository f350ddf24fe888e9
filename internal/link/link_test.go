package link

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	params := base64.RawURLEncoding.EncodeToString([]byte(`{"algorithm":"EC-P256"}`))
	good := []struct {
		in, method, origin string
		start              bool
	}{
		{"cardbridge://start", "", "", true},
		{"cardbridge://start/", "", "", true},
		{"CARDBRIDGE://Start", "", "", true},
		{"cardbridge:start", "", "", true},
		{"cardbridge://keys.generate?params=" + params + "&callback=https%3A%2F%2Fportal.example%2Fdone", "keys.generate", "https://portal.example", false},
		{"cardbridge://cards.list?callback=http://localhost:8080/cb", "cards.list", "http://localhost:8080", false},
	}
	for _, tt := range good {
		l, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if l.Start != tt.start || l.Method != tt.method || l.Origin != tt.origin {
			t.Fatalf("Parse(%q) = %+v", tt.in, l)
		}
	}
	bad := []string{
		"https://start", "cardbridge://", "cardbridge://start?x=1", "cardbridge://Sign!?callback=https://a.example",
		"cardbridge://sign", "cardbridge://sign?callback=http://portal.example/", "cardbridge://sign?callback=javascript:alert(1)",
		"cardbridge://sign?params=%%%&callback=https://a.example", "cardbridge://sign?params=W10&callback=https://a.example",
		"cardbridge://sign?callback=https://a.example&callback=https://b.example", "cardbridge://sign?evil=1&callback=https://a.example",
		"cardbridge://user@sign?callback=https://a.example", "cardbridge://sign/extra?callback=https://a.example",
		"cardbridge://sign?callback=https://user@a.example/",
	}
	for _, in := range bad {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) accepted: %v", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("cardbridge://start")
	f.Add("cardbridge://sign?params=e30&callback=https://portal.example/x")
	f.Add("cardbridge:%00//")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := Parse(in)
		if err == nil && !l.Start && (l.Callback == nil || l.Origin == "" || l.Method == "") {
			t.Fatalf("accepted a half link: %+v", l)
		}
	})
}
