package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
)

// certFor makes a certificate for pub, signed by a throwaway CA, with
// padding bytes of junk in an extension and cn as its common name.
func certFor(t *testing.T, pub any, cn string, padding int) *x509.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	if padding > 0 {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: make([]byte, padding)}}
	}
	issuer := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Junk CA"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func TestInstallRefusesJunk(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256", "csr": map[string]any{"subject": map[string]any{"commonName": "Junk Test"}, "emails": []string{"junk@example.org"}}}, &gen)
	cert, err := ca.Issue([]byte(gen.CSR))
	if err != nil {
		t.Fatal(err)
	}
	install := func(leaf string, chain ...string) *protocol.Error {
		return c.call("certificates.install", map[string]any{"certificate": leaf, "chain": chain}, nil)
	}
	// CA certificates that did not issue the leaf.
	wantCode(t, install(democa.PEM(cert), democa.PEM(other.Intermediate)), protocol.CodeInvalidParams)
	wantCode(t, install(democa.PEM(cert), democa.PEM(ca.Intermediate), democa.PEM(other.Root)), protocol.CodeInvalidParams)
	// Too many, even of the right ones.
	five := []string{democa.PEM(ca.Intermediate), democa.PEM(ca.Root), democa.PEM(ca.Root), democa.PEM(ca.Root), democa.PEM(ca.Root)}
	wantCode(t, install(democa.PEM(cert), five...), protocol.CodeInvalidParams)
	// Too large.
	pub, _ := x509.ParsePKIXPublicKey(gen.PublicKey)
	wantCode(t, install(certPEM(certFor(t, pub, "Big", 20<<10))), protocol.CodeInvalidParams)
	// The chain in any order is stored, with its labels bounded.
	if err := install(democa.PEM(cert), democa.PEM(ca.Root), democa.PEM(ca.Intermediate)); err != nil {
		t.Fatal(err)
	}
	// A common name longer than a label becomes a bounded one.
	long := certFor(t, pub, strings.Repeat("ł", 100)+"\u202e\n", 0)
	if err := install(certPEM(long)); err != nil {
		t.Fatal(err)
	}
	var keys protocol.KeysList
	c.mustCall("keys.list", nil, &keys)
	for _, k := range keys.Keys {
		if len(k.Label) > 64 || strings.ContainsAny(k.Label, "\u202e\n") {
			t.Fatalf("label %q", k.Label)
		}
	}
}

// TestJunkOnCardDoesNotBreakLists fills a card past cardbridge's own
// checks, as another program could: a 700 KB certificate with a 4000-byte
// label, and more 15 KB certificates than one frame can carry.
func TestJunkOnCardDoesNotBreakLists(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256", "label": "real"}, &gen)
	pub, _ := x509.ParsePKIXPublicKey(gen.PublicKey)
	var filler []*x509.Certificate
	for range 80 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		filler = append(filler, certFor(t, &k.PublicKey, "filler", 15<<10))
	}
	login := func(context.Context, token.LoginInfo) (string, error) { return softhsmtest.PIN, nil }
	err := d.tokens.Do(context.Background(), d.tok.Serial, login, func(s *token.Session) error {
		_, err := s.InstallCertificate(certFor(t, pub, "big", 700<<10), strings.Repeat("L", 4000), filler)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var list protocol.CertificatesList
	c.mustCall("certificates.list", nil, &list)
	if len(list.Certificates) == 0 || len(list.Certificates) >= 80 {
		t.Fatalf("certificates.list gave %d certificates", len(list.Certificates))
	}
	var keys protocol.KeysList
	c.mustCall("keys.list", nil, &keys)
	if len(keys.Keys) != 1 || len(keys.Keys[0].Label) > 300 {
		t.Fatalf("keys.list = %d keys", len(keys.Keys))
	}
}
