package demo

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/smime"
)

// signedMail makes a multipart/signed message the way cardbridge's
// smime.sign does, with a software key and a Demo CA certificate.
func signedMail(t *testing.T, ca *democa.CA, certFor, from string) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Alice Example"}, EmailAddresses: []string{certFor}}, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := smime.Parse([]byte("From: " + from + "\r\nTo: bob@example.org\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße from the card.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	entity := m.SignedEntity()
	digest := sha256.Sum256(entity)
	sig, err := cms.Sign(key, cert, []*x509.Certificate{ca.Intermediate}, digest[:], cms.SignOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	return m.Signed(entity, sig, cms.MicAlg(crypto.SHA256))
}

func TestCheckSigned(t *testing.T) {
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &Portal{CA: ca}
	good := signedMail(t, ca, "alice@example.org", "Alice <alice@example.org>")
	if c := p.checkSigned(good); !c.Valid || c.Signer != "Alice Example" || c.Email != "alice@example.org" {
		t.Fatalf("good message: %+v", c)
	}
	for _, tt := range []struct {
		name, problem string
		raw           []byte
	}{
		{"changed", "changed after it was signed", bytes.Replace(good, []byte("charset=utf-8"), []byte("charset=utf-9"), 1)},
		{"other CA", "not issued by the Demo CA", signedMail(t, other, "alice@example.org", "alice@example.org")},
		{"other sender", "but the message is from mallory@example.org", signedMail(t, ca, "alice@example.org", "mallory@example.org")},
		{"not signed", "not a multipart/signed", []byte("From: a@b\r\nContent-Type: text/plain\r\n\r\nhi\r\n")},
	} {
		if c := p.checkSigned(tt.raw); c.Valid || !strings.Contains(c.Problem, tt.problem) {
			t.Errorf("%s: %+v", tt.name, c)
		}
	}
}
