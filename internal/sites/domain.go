package sites

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// checkASCIIHost accepts a host name of ASCII letters, digits, '-', '_'
// and '.', whose punycode labels decode, or an IP address.
func checkASCIIHost(origin, host string) error {
	if host == "" {
		return fmt.Errorf("%w: %q has no host", ErrBadOrigin, origin)
	}
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return fmt.Errorf("%w: %q has a bad IPv6 address", ErrBadOrigin, origin)
		}
		return nil
	}
	for _, c := range []byte(host) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: %q has a character not allowed in a host name", ErrBadOrigin, origin)
		}
	}
	if strings.HasPrefix(host, "xn--") || strings.Contains(host, ".xn--") {
		if _, err := idna.Lookup.ToUnicode(host); err != nil {
			return fmt.Errorf("%w: %q has a malformed international name: %v", ErrBadOrigin, origin, err)
		}
	}
	return nil
}

// Registrable returns the registrable domain of a canonical origin by the
// public suffix list ("https://a.b.example.co.uk" → "example.co.uk"): the
// unit one party controls, so the unit for limits on what sites may ask.
// An IP address or a name that is itself a public suffix stands for
// itself.
func Registrable(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return origin
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
