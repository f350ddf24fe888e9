package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/democa"
)

// issue makes a CA-issued certificate for key, through a real CSR.
func issue(t *testing.T, ca *democa.CA, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Test Signer"}, EmailAddresses: []string{"signer@example.org"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func write(t *testing.T, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// OpenSSLVerify checks a CMS signature with openssl cms -verify against the
// demo root, detached when content is passed separately.
func opensslVerify(t *testing.T, ca *democa.CA, sig, detachedContent []byte) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"cms", "-verify", "-inform", "DER", "-in", write(t, dir, "sig.der", sig), "-CAfile", write(t, dir, "root.pem", []byte(democa.PEM(ca.Root))), "-purpose", "any"}
	if detachedContent != nil {
		args = append(args, "-binary", "-content", write(t, dir, "content", detachedContent))
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSignVerifiedByOpenSSL(t *testing.T) {
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	content := []byte("a document\r\nwith two lines\r\n")
	digest := sha256.Sum256(content)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		pss  bool
	}{{"rsa-pkcs1", rsaKey, false}, {"rsa-pss", rsaKey, true}, {"ecdsa", ecKey, false}} {
		cert := issue(t, ca, tc.key)
		for _, attached := range []bool{false, true} {
			o := SignOptions{Hash: crypto.SHA256, PSS: tc.pss}
			if attached {
				o.Content = content
			}
			sig, err := Sign(tc.key, cert, []*x509.Certificate{ca.Intermediate}, digest[:], o)
			if err != nil {
				t.Fatal(err)
			}
			var out string
			if attached {
				out = opensslVerify(t, ca, sig, nil)
				if !strings.Contains(out, string(content[:10])) {
					t.Fatalf("%s attached: content not in output %q", tc.name, out)
				}
			} else {
				opensslVerify(t, ca, sig, content)
			}
		}
	}
}
