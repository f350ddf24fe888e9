package server

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// enrolled generates a key, has the demo CA certify it for e-mail, and
// installs certificate and chain on the card.
func enrolled(t *testing.T, c *client, ca *democa.CA, alg, email string) (keyID, certPath string) {
	t.Helper()
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": alg, "label": "mail " + alg,
		"csr": map[string]any{"subject": map[string]any{"commonName": "Alice " + alg, "emailAddress": email}}}, &gen)
	cert, err := ca.Issue([]byte(gen.CSR))
	if err != nil {
		t.Fatal(err)
	}
	c.mustCall("certificates.install", map[string]any{"certificate": democa.PEM(cert), "chain": []string{democa.PEM(ca.Intermediate), democa.PEM(ca.Root)}}, nil)
	return gen.KeyID, writeTemp(t, "cert.pem", democa.PEM(cert))
}

func newCA(t *testing.T) (*democa.CA, string) {
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, writeTemp(t, "root.pem", democa.PEM(ca.Root))
}

func TestCMSSignaturesVerifiedByOpenSSL(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, rootPath := newCA(t)
	document := []byte("%PDF-1.7 pretend this is a large document\n")
	for _, tc := range []struct{ key, alg, digestAlg string }{
		{"RSA-2048", "", "SHA-256"},
		{"RSA-2048", "RSA-PSS-SHA256", "SHA-256"},
		{"RSA-3072", "RSA-PKCS1-SHA512", "SHA-512"},
		{"EC-P256", "", "SHA-256"},
		{"EC-P384", "ECDSA-SHA384", "SHA-384"},
	} {
		keyID, _ := enrolled(t, c, ca, tc.key, "alice@example.org")
		var digest []byte
		switch tc.digestAlg {
		case "SHA-384":
			s := sha512.Sum384(document)
			digest = s[:]
		case "SHA-512":
			s := sha512.Sum512(document)
			digest = s[:]
		default:
			s := sha256.Sum256(document)
			digest = s[:]
		}
		// Detached, from the digest alone.
		var res protocol.SignResult
		c.mustCall("sign", map[string]any{"keyId": keyID, "format": "cms", "algorithm": tc.alg, "digest": digest, "digestAlgorithm": tc.digestAlg}, &res)
		sigPath := writeTemp(t, "sig.p7s", string(res.Signature))
		docPath := writeTemp(t, "doc.pdf", string(document))
		out := openssl(t, "cms", "-verify", "-inform", "DER", "-in", sigPath, "-binary", "-content", docPath, "-CAfile", rootPath, "-out", os.DevNull)
		_ = out
		// The CAdES-BES attributes are there.
		asn := openssl(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", sigPath)
		for _, attr := range []string{"contentType", "messageDigest", "signingTime", "id-smime-aa-signingCertificateV2"} {
			if !strings.Contains(asn, attr) {
				t.Fatalf("%s %s: no %s attribute", tc.key, tc.alg, attr)
			}
		}
		// Attached, with the data.
		c.mustCall("sign", map[string]any{"keyId": keyID, "format": "cms", "algorithm": tc.alg, "data": document, "attached": true, "digestAlgorithm": tc.digestAlg}, &res)
		outPath := filepath.Join(t.TempDir(), "content")
		openssl(t, "cms", "-verify", "-inform", "DER", "-in", writeTemp(t, "att.p7m", string(res.Signature)), "-CAfile", rootPath, "-out", outPath)
		if got, _ := os.ReadFile(outPath); string(got) != string(document) {
			t.Fatalf("attached content = %q", got)
		}
	}
	// A batch: one PIN for all.
	keyID, _ := enrolled(t, c, ca, "EC-P256", "batch@example.org")
	before := len(d.prompts())
	var res protocol.SignResult
	var digests [][]byte
	for i := 0; i < 5; i++ {
		s := sha256.Sum256([]byte{byte(i)})
		digests = append(digests, s[:])
	}
	c.mustCall("sign", map[string]any{"keyId": keyID, "format": "cms", "digests": digests, "digestAlgorithm": "SHA-256"}, &res)
	if len(res.Signatures) != 5 || len(d.prompts())-before != 1 {
		t.Fatalf("batch: %d signatures, %d prompts", len(res.Signatures), len(d.prompts())-before)
	}
	for i, sig := range res.Signatures {
		openssl(t, "cms", "-verify", "-inform", "DER", "-in", writeTemp(t, "b.p7s", string(sig)), "-binary", "-content", writeTemp(t, "b", string([]byte{byte(i)})), "-CAfile", rootPath, "-out", os.DevNull)
	}
	// Refusals, before any dialog.
	before = len(d.prompts())
	wantCode(t, c.call("sign", map[string]any{"keyId": keyID, "format": "cms", "digest": digests[0][:20], "digestAlgorithm": "SHA-256"}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": keyID, "format": "cms", "digest": digests[0], "digestAlgorithm": "SHA-384"}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": keyID, "format": "cms", "digest": digests[0]}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": keyID, "format": "cms", "digest": digests[0], "digestAlgorithm": "MD5"}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": keyID, "format": "pdf", "digest": digests[0]}, nil), protocol.CodeInvalidParams)
	if len(d.prompts()) != before {
		t.Fatal("a refused CMS request opened a dialog")
	}
	var bare protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &bare)
	before = len(d.prompts())
	wantCode(t, c.call("sign", map[string]any{"keyId": bare.KeyID, "format": "cms", "digest": digests[0], "digestAlgorithm": "SHA-256"}, nil), protocol.CodeInvalidParams)
	if len(d.prompts()) != before {
		t.Fatal("a refused CMS request opened a dialog")
	}
}

const mail = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Quarterly report\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nHi Bob,\r\n\r\nthe numbers are in. Zażółć gęślą jaźń.\r\n"

func TestSMIMESignVerifiedByOpenSSL(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, rootPath := newCA(t)
	enrolled(t, c, ca, "EC-P256", "someone-else@example.org")
	enrolled(t, c, ca, "RSA-2048", "alice@example.org")
	var res protocol.SMIMEResult
	c.mustCall("smime.sign", map[string]any{"message": []byte(mail)}, &res)
	signed := string(res.Message)
	if !strings.Contains(signed, "Subject: Quarterly report") || !strings.Contains(signed, "micalg=sha-256") {
		t.Fatalf("signed message:\n%s", signed)
	}
	out := openssl(t, "smime", "-verify", "-in", writeTemp(t, "signed.eml", signed), "-CAfile", rootPath)
	// The 8-bit body was signed as base64, so no relay can alter it.
	body := strings.ReplaceAll(out, "\r", "")
	body = body[strings.Index(body, "\n\n")+2:]
	decoded, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if !strings.Contains(out, "Verification successful") || err != nil || !strings.Contains(string(decoded), "Zażółć gęślą jaźń") {
		t.Fatalf("openssl smime -verify output:\n%s", out)
	}
	// The key was chosen by the From address, and the dialog says what is signed.
	if last := d.prompts()[len(d.prompts())-1]; !strings.Contains(last, "Quarterly report") || !strings.Contains(last, "RSA-2048") {
		t.Fatalf("prompt = %q", last)
	}
	wantCode(t, c.call("smime.sign", map[string]any{"message": []byte(strings.Replace(mail, "alice@", "mallory@", 1))}, nil), protocol.CodeKeyNotFound)
	wantCode(t, c.call("smime.sign", map[string]any{"message": []byte("not a message")}, nil), protocol.CodeInvalidParams)
}

func TestSMIMEDecryptOpenSSLMessages(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, _ := newCA(t)
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\nThe secret is 42.\r\n"
	innerPath := writeTemp(t, "inner.txt", inner)
	_, rsaCert := enrolled(t, c, ca, "RSA-2048", "alice@example.org")
	_, ecCert := enrolled(t, c, ca, "EC-P256", "alice-ec@example.org")
	for _, tc := range []struct {
		name string
		args []string
		cert string
	}{
		{"smime aes256 (x-pkcs7-mime)", []string{"smime", "-encrypt", "-aes256"}, rsaCert},
		{"cms aes-256-gcm", []string{"cms", "-encrypt", "-aes-256-gcm"}, rsaCert},
		{"cms aes-128-cbc ecdh", []string{"cms", "-encrypt", "-aes-128-cbc"}, ecCert},
		{"cms aes-256-gcm ecdh", []string{"cms", "-encrypt", "-aes-256-gcm"}, ecCert},
	} {
		args := append(tc.args, "-in", innerPath, "-from", "Bob <bob@example.org>", "-to", "alice@example.org", "-subject", "Secret plans", tc.cert)
		out, err := exec.Command("openssl", args...).Output()
		if err != nil {
			t.Fatalf("%s: openssl: %v", tc.name, err)
		}
		var res protocol.SMIMEResult
		c.mustCall("smime.decrypt", map[string]any{"message": out}, &res)
		if strings.ReplaceAll(string(res.Message), "\r\n", "\n") != strings.ReplaceAll(inner, "\r\n", "\n") {
			t.Fatalf("%s: decrypted %q", tc.name, res.Message)
		}
		last := d.prompts()[len(d.prompts())-1]
		if !strings.Contains(last, "Secret plans") || !strings.Contains(last, "bob@example.org") || !strings.Contains(last, portal) {
			t.Fatalf("%s: prompt does not say who reads what: %q", tc.name, last)
		}
	}
	// For someone else, damaged, or not encrypted at all: clear errors.
	ca2, _ := newCA(t)
	otherDir := t.TempDir()
	openssl(t, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(otherDir, "k"), "-out", filepath.Join(otherDir, "r"), "-subj", "/CN=Other", "-addext", "subjectAltName=email:o@example.org")
	csrPEM, _ := os.ReadFile(filepath.Join(otherDir, "r"))
	other, _ := ca2.Issue(csrPEM)
	out, _ := exec.Command("openssl", "smime", "-encrypt", "-aes256", "-in", innerPath, writeTemp(t, "other.pem", democa.PEM(other))).Output()
	wantCode(t, c.call("smime.decrypt", map[string]any{"message": out}, nil), protocol.CodeKeyNotFound)
	gcm, err := exec.Command("openssl", "cms", "-encrypt", "-aes-256-gcm", "-in", innerPath, rsaCert).Output()
	if err != nil {
		t.Fatal(err)
	}
	// Flip a character of the MAC near the end of the base64 body.
	b := []byte(strings.TrimRight(string(gcm), "\n"))
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	wantCode(t, c.call("smime.decrypt", map[string]any{"message": b}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("smime.decrypt", map[string]any{"message": []byte(mail)}, nil), protocol.CodeInvalidParams)
	trunc := "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte{0x30, 0x80, 0x06})
	wantCode(t, c.call("smime.decrypt", map[string]any{"message": []byte(trunc)}, nil), protocol.CodeInvalidParams)
	_ = crypto.SHA256
}
