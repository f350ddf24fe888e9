package rpc

import (
	"bytes"
	"crypto/x509"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Bounds on what a page may store on a card, so that a card cannot be
// filled with junk that then breaks listing it for every site.
const (
	// maxChain is the most CA certificates stored with one certificate:
	// intermediates and a root.
	maxChain = 4
	// maxCertSize bounds one certificate's DER; real ones are 1-3 KB.
	maxCertSize = 16 << 10
	// maxLabel bounds a label, in bytes; X.520 bounds a common name to
	// 64 characters.
	maxLabel = 64
)

// issuerPath orders chain from the certificate's issuer upwards. Every
// certificate in chain must be on that path: a page cannot store CA
// certificates that have nothing to do with the leaf.
func issuerPath(leaf *x509.Certificate, chain []*x509.Certificate) ([]*x509.Certificate, error) {
	if len(chain) > maxChain {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "a chain has at most %d certificates", maxChain)
	}
	left := append([]*x509.Certificate{}, chain...)
	var path []*x509.Certificate
	for cur := leaf; len(left) > 0; {
		i := issuerOf(cur, left)
		if i < 0 {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "chain certificate %q did not issue the certificate or another chain certificate",
				labelFrom(left[0].Subject.CommonName))
		}
		cur = left[i]
		path = append(path, cur)
		left = append(left[:i], left[i+1:]...)
	}
	return path, nil
}

// issuerOf finds the certificate in cands that signed c.
func issuerOf(c *x509.Certificate, cands []*x509.Certificate) int {
	for i, ca := range cands {
		if ca.IsCA && bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
			return i
		}
	}
	return -1
}

// checkCert bounds a certificate a page wants stored.
func checkCert(what string, c *x509.Certificate) error {
	if len(c.Raw) > maxCertSize {
		return protocol.Errorf(protocol.CodeInvalidParams, "%s is %d bytes; at most %d are stored", what, len(c.Raw), maxCertSize)
	}
	return nil
}

// checkCALabel refuses a CA certificate whose common name, which becomes
// its label on the card, is over X.520's bound or holds control
// characters.
func checkCALabel(c *x509.Certificate) error {
	cn := c.Subject.CommonName
	if len(cn) > 4*maxLabel || utf8.RuneCountInString(cn) > maxLabel || strings.IndexFunc(cn, isHidden) >= 0 {
		return protocol.Errorf(protocol.CodeInvalidParams, "chain certificate %q has a common name that cannot be a label", labelFrom(cn))
	}
	return nil
}

// labelFrom makes a label of a certificate's common name: hidden and
// control characters become spaces, and it is cut to maxLabel bytes on a
// character boundary.
func labelFrom(cn string) string {
	s := strings.TrimSpace(strings.Map(func(r rune) rune {
		if isHidden(r) {
			return ' '
		}
		return r
	}, cn))
	for len(s) > maxLabel {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// isHidden is a character a reader would not see as such: controls,
// format characters (bidi overrides among them) and line separators.
func isHidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || r == utf8.RuneError
}
