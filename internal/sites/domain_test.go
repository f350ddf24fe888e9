package sites

import (
	"errors"
	"testing"
)

// Origins are shown and compared in ASCII: a look-alike name never passes
// as another, and nothing percent-encoded or non-ASCII is decoded into one.
func TestCanonicalIsASCII(t *testing.T) {
	good := map[string]string{
		"https://xn--pypal-4ve.example":      "https://xn--pypal-4ve.example", // "pаypal" with a Cyrillic а, shown as such
		"https://XN--Pypal-4ve.Example:8443": "https://xn--pypal-4ve.example:8443",
		"https://my_host.example":            "https://my_host.example",
		"https://192.0.2.1":                  "https://192.0.2.1",
	}
	for in, want := range good {
		if got, err := Canonical(in); err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"https://pаypal.example",            // Cyrillic а
		"https://p%61ypal.example",          // percent-encoded a
		"https://portal.example%2Eevil.com", // percent-encoded dot
		"https://[fe80::1%25eth0]",          // zone id
		"https://bücher.example",
		"https://portal.example\u2028",
		"https://portal\u202e.example",
		"https://portal.example\x00",
		"https://portal .example",
		"https://xn--zz.example", // not valid punycode
		"https://xn--a.example",
		"https://portal\\.example",
		"https://" + string(make([]byte, 400)),
	} {
		if got, err := Canonical(in); !errors.Is(err, ErrBadOrigin) {
			t.Errorf("Canonical(%q) = %q, %v; want refusal", in, got, err)
		}
	}
}

func TestRegistrable(t *testing.T) {
	for in, want := range map[string]string{
		"https://a.b.portal.example":        "portal.example",
		"https://portal.example:8443":       "portal.example",
		"https://x.y.example.co.uk":         "example.co.uk",
		"https://alice.github.io":           "alice.github.io", // a private suffix: each user is a party
		"https://bob.github.io":             "bob.github.io",
		"http://localhost:8080":             "localhost",
		"http://127.0.0.1:9":                "127.0.0.1",
		"https://[::1]:4443":                "::1",
		"https://xn--pypal-4ve.example":     "xn--pypal-4ve.example",
		"https://sub.xn--pypal-4ve.example": "xn--pypal-4ve.example",
	} {
		if got := Registrable(in); got != want {
			t.Errorf("Registrable(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add("https://portal.example")
	f.Add("https://xn--pypal-4ve.example:8443")
	f.Add("http://localhost:1")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Canonical(in)
		if err != nil {
			return
		}
		for i := 0; i < len(c); i++ {
			if c[i] <= ' ' || c[i] >= 0x7f || c[i] == '%' {
				t.Fatalf("Canonical(%q) = %q, not plain ASCII", in, c)
			}
		}
		if again, err := Canonical(c); err != nil || again != c {
			t.Fatalf("Canonical is not stable: %q → %q → %q, %v", in, c, again, err)
		}
	})
}
