// Package csr builds PKCS#10 certificate requests and reads certificates
// for cardbridge. It works on any crypto.Signer, so the key stays on the
// card, and it needs no cgo.
package csr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid marks input the caller must fix; the message says what.
var ErrInvalid = errors.New("invalid")

// Subject is the distinguished name a portal asks for. It has the fields
// of protocol.Subject, so rpc converts one into the other, but it is not a
// wire type: csr knows nothing of JSON.
type Subject struct {
	CommonName         string
	EmailAddress       string
	Organization       string
	OrganizationalUnit string
	Locality           string
	StateOrProvince    string
	Country            string
}

// oidEmailAddress is PKCS#9 emailAddress, still the subject field S/MIME
// portals (Certum among them) fill in.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// upper bounds from RFC 5280, appendix A.1 (ub-*).
var maxLen = map[string]int{
	"commonName": 64, "emailAddress": 255, "organization": 64, "organizationalUnit": 64,
	"locality": 128, "stateOrProvince": 128,
}

func checkField(name, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8: %w", name, ErrInvalid)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s contains control characters: %w", name, ErrInvalid)
	}
	if v != strings.TrimSpace(v) {
		return fmt.Errorf("%s has leading or trailing spaces: %w", name, ErrInvalid)
	}
	if n := utf8.RuneCountInString(v); n > maxLen[name] {
		return fmt.Errorf("%s is %d characters long; the limit is %d: %w", name, n, maxLen[name], ErrInvalid)
	}
	return nil
}

// CheckEmail accepts a bare addr-spec such as alice@example.org.
func CheckEmail(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" || len(addr) > 255 {
		return fmt.Errorf("%q is not an e-mail address: %w", addr, ErrInvalid)
	}
	return nil
}

// Name checks s and turns it into a pkix.Name.
func (s Subject) Name() (pkix.Name, error) {
	var n pkix.Name
	fields := []struct {
		name string
		v    string
		set  func(string)
	}{
		{"commonName", s.CommonName, func(v string) { n.CommonName = v }},
		{"organization", s.Organization, func(v string) { n.Organization = []string{v} }},
		{"organizationalUnit", s.OrganizationalUnit, func(v string) { n.OrganizationalUnit = []string{v} }},
		{"locality", s.Locality, func(v string) { n.Locality = []string{v} }},
		{"stateOrProvince", s.StateOrProvince, func(v string) { n.Province = []string{v} }},
	}
	empty := s.EmailAddress == "" && s.Country == ""
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		empty = false
		if err := checkField(f.name, f.v); err != nil {
			return n, err
		}
		f.set(f.v)
	}
	if empty {
		return n, fmt.Errorf("subject is empty: %w", ErrInvalid)
	}
	if s.Country != "" {
		if len(s.Country) != 2 || s.Country[0] < 'A' || s.Country[0] > 'Z' || s.Country[1] < 'A' || s.Country[1] > 'Z' {
			return n, fmt.Errorf("country must be two capital letters (ISO 3166), not %q: %w", s.Country, ErrInvalid)
		}
		n.Country = []string{s.Country}
	}
	if s.EmailAddress != "" {
		if err := CheckEmail(s.EmailAddress); err != nil {
			return n, fmt.Errorf("emailAddress: %w", err)
		}
		// IA5String, as RFC 5280 requires for emailAddress.
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(s.EmailAddress)}})
	}
	return n, nil
}

// SignatureAlgorithm maps a wire name ("" for the key's default) onto an
// x509 signature algorithm that fits key.
func SignatureAlgorithm(name string, key crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch name {
		case "", "RSA-PKCS1-SHA256":
			return x509.SHA256WithRSA, nil
		case "RSA-PKCS1-SHA384":
			return x509.SHA384WithRSA, nil
		case "RSA-PKCS1-SHA512":
			return x509.SHA512WithRSA, nil
		case "RSA-PSS-SHA256":
			return x509.SHA256WithRSAPSS, nil
		case "RSA-PSS-SHA384":
			return x509.SHA384WithRSAPSS, nil
		case "RSA-PSS-SHA512":
			return x509.SHA512WithRSAPSS, nil
		}
	case *ecdsa.PublicKey:
		switch name {
		case "":
			switch k.Curve {
			case elliptic.P384():
				return x509.ECDSAWithSHA384, nil
			case elliptic.P521():
				return x509.ECDSAWithSHA512, nil
			}
			return x509.ECDSAWithSHA256, nil
		case "ECDSA-SHA256":
			return x509.ECDSAWithSHA256, nil
		case "ECDSA-SHA384":
			return x509.ECDSAWithSHA384, nil
		case "ECDSA-SHA512":
			return x509.ECDSAWithSHA512, nil
		}
	}
	return 0, fmt.Errorf("signature algorithm %q does not fit this key: %w", name, ErrInvalid)
}

// Request is everything a CSR carries besides the key.
type Request struct {
	Subject            Subject
	Emails             []string // go into the subjectAltName
	SignatureAlgorithm string
}

// Check validates r without signing anything, so that bad input is refused
// before a PIN dialog opens.
func (r Request) Check() error {
	if _, err := r.Subject.Name(); err != nil {
		return err
	}
	if len(r.Emails) > 16 {
		return fmt.Errorf("at most 16 e-mail addresses: %w", ErrInvalid)
	}
	for _, e := range r.Emails {
		if err := CheckEmail(e); err != nil {
			return fmt.Errorf("emails: %w", err)
		}
	}
	return nil
}

// Create signs a CSR with signer and returns it PEM-encoded. The subject's
// emailAddress is also put into the subjectAltName, since mail clients
// match only there.
func Create(signer crypto.Signer, r Request) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	name, _ := r.Subject.Name()
	alg, err := SignatureAlgorithm(r.SignatureAlgorithm, signer.Public())
	if err != nil {
		return nil, err
	}
	emails := append([]string{}, r.Emails...)
	if r.Subject.EmailAddress != "" && !containsFold(emails, r.Subject.EmailAddress) {
		emails = append([]string{r.Subject.EmailAddress}, emails...)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: name, EmailAddresses: emails, SignatureAlgorithm: alg,
	}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// ParseCertificate reads one certificate given as PEM or as base64 DER.
func ParseCertificate(s string) (*x509.Certificate, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("not a PEM certificate: %w", ErrInvalid)
		}
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, fmt.Errorf("give one certificate per entry: %w", ErrInvalid)
		}
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("certificate is neither PEM nor base64 DER: %w", ErrInvalid)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("malformed certificate: %v: %w", err, ErrInvalid)
	}
	return c, nil
}

// Emails lists a certificate's addresses: the subjectAltName first, then
// a subject emailAddress not already there.
func Emails(c *x509.Certificate) []string {
	out := append([]string{}, c.EmailAddresses...)
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidEmailAddress) {
			if s, ok := atv.Value.(string); ok && !containsFold(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
