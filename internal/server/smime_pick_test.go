package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
)

// TestSMIMESignSkipsExpiredCertificate: with an expired certificate and its
// renewal for the same address on the card, smime.sign without keyId signs
// with the renewal; with only the expired one it refuses and says so.
func TestSMIMESignSkipsExpiredCertificate(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "renewal test CA"},
		NotBefore: now.Add(-5 * 365 * 24 * time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, from, to time.Time) (*ecdsa.PrivateKey, *x509.Certificate) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "Alice"},
			EmailAddresses: []string{"alice@example.org"}, NotBefore: from, NotAfter: to,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return key, cert
	}
	put := func(key *ecdsa.PrivateKey, cert *x509.Certificate, label string) {
		login := func(context.Context, token.LoginInfo) (string, error) { return softhsmtest.PIN, nil }
		err := d.tokens.Do(context.Background(), "", login, func(s *token.Session) error {
			_, err := s.ImportKey(key, cert, []*x509.Certificate{ca}, label)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	oldKey, oldCert := issue(2, now.Add(-400*day), now.Add(-day))
	put(oldKey, oldCert, "expired")

	msg := []byte("From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: renewal\r\nContent-Type: text/plain\r\n\r\nhi\r\n")
	err := c.call("smime.sign", map[string]any{"message": msg}, nil)
	if err == nil || err.Code != protocol.CodeKeyNotFound || !strings.Contains(err.Data.Reason, "expired on "+oldCert.NotAfter.UTC().Format(time.DateOnly)) {
		t.Fatalf("only an expired certificate: %v", err)
	}

	newKey, newCert := issue(3, now.Add(-2*day), now.Add(700*day))
	put(newKey, newCert, "renewal")
	var res protocol.SMIMEResult
	c.mustCall("smime.sign", map[string]any{"message": msg}, &res)
	dir := t.TempDir()
	signer := filepath.Join(dir, "signer.pem")
	openssl(t, "smime", "-verify", "-in", writeTemp(t, "signed.eml", string(res.Message)), "-CAfile", writeTemp(t, "ca.pem", democa.PEM(ca)), "-signer", signer, "-out", os.DevNull)
	got, err2 := os.ReadFile(signer)
	if err2 != nil || !strings.Contains(string(got), strings.TrimSpace(democa.PEM(newCert))) {
		t.Fatalf("signed with the wrong certificate:\n%s", got)
	}
}
