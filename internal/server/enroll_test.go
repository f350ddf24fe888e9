package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
)

// openssl runs the real openssl, the judge nobody here wrote.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var subject = map[string]any{
	"commonName": "Alice Example", "emailAddress": "alice@example.org", "organization": "Example Org",
	"locality": "Kraków", "stateOrProvince": "Małopolska", "country": "PL",
}

func TestEnrollEveryAlgorithm(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rootPath := writeTemp(t, "root.pem", democa.PEM(ca.Root))
	interPath := writeTemp(t, "inter.pem", democa.PEM(ca.Intermediate))
	for _, ka := range token.KeyAlgorithms {
		t.Run(ka.Name, func(t *testing.T) {
			before := len(d.prompts())
			var gen protocol.KeysGenerateResult
			c.mustCall("keys.generate", map[string]any{"algorithm": ka.Name, "label": "S/MIME " + ka.Name,
				"csr": map[string]any{"subject": subject, "emails": []string{"alice@example.org", "a.example@example.net"}}}, &gen)
			if n := len(d.prompts()) - before; n != 1 {
				t.Fatalf("generate + CSR asked for the PIN %d times", n)
			}
			// The CSR, judged by Go and by openssl.
			blk, _ := pem.Decode([]byte(gen.CSR))
			req, err := x509.ParseCertificateRequest(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := req.CheckSignature(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(req.EmailAddresses, ","); got != "alice@example.org,a.example@example.net" {
				t.Fatalf("SAN e-mails = %s", got)
			}
			if req.Subject.CommonName != "Alice Example" || req.Subject.Country[0] != "PL" || req.Subject.Locality[0] != "Kraków" {
				t.Fatalf("subject = %s", req.Subject)
			}
			csrPath := writeTemp(t, "req.pem", gen.CSR)
			if out := openssl(t, "req", "-verify", "-noout", "-in", csrPath); !strings.Contains(out, "verify OK") && !strings.Contains(out, "Certificate request self-signature verify OK") {
				t.Fatalf("openssl req -verify: %s", out)
			}
			if out := openssl(t, "req", "-noout", "-text", "-in", csrPath); !strings.Contains(out, "email:alice@example.org") || !strings.Contains(out, "emailAddress") {
				t.Fatalf("openssl sees no e-mail:\n%s", out)
			}

			cert, err := ca.Issue([]byte(gen.CSR))
			if err != nil {
				t.Fatal(err)
			}
			var inst protocol.CertificatesInstallResult
			c.mustCall("certificates.install", map[string]any{"certificate": democa.PEM(cert),
				"chain": []string{democa.PEM(ca.Intermediate), base64.StdEncoding.EncodeToString(ca.Root.Raw)}}, &inst)
			if inst.KeyID != gen.KeyID || inst.Expired || !strings.Contains(inst.Subject, "Alice Example") {
				t.Fatalf("install = %+v", inst)
			}
			// Installing again writes nothing new.
			c.mustCall("certificates.install", map[string]any{"certificate": democa.PEM(cert), "chain": []string{democa.PEM(ca.Intermediate)}}, nil)

			var list protocol.CertificatesList
			c.mustCall("certificates.list", nil, &list)
			var leaf *protocol.Certificate
			cas := 0
			for i, pc := range list.Certificates {
				if pc.IsCA {
					cas++
					if pc.KeyID != nil {
						t.Fatal("a CA certificate claims a key")
					}
				} else if pc.KeyID != nil && *pc.KeyID == gen.KeyID {
					leaf = &list.Certificates[i]
				}
			}
			if leaf == nil || cas != 2 || strings.Join(leaf.Emails, ",") != "alice@example.org,a.example@example.net" {
				t.Fatalf("certificates.list = %+v", list)
			}
			leafPath := writeTemp(t, "leaf.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.DER})))
			if out := openssl(t, "verify", "-purpose", "smimesign", "-CAfile", rootPath, "-untrusted", interPath, leafPath); !strings.Contains(out, "OK") {
				t.Fatalf("openssl verify: %s", out)
			}
			var keys protocol.KeysList
			c.mustCall("keys.list", nil, &keys)
			for _, k := range keys.Keys {
				if k.KeyID == gen.KeyID && k.Certificate == nil {
					t.Fatal("keys.list does not show the certificate")
				}
			}
		})
	}
	// Two CA certificates in all: each install found the chain already there.
	var list protocol.CertificatesList
	c.mustCall("certificates.list", nil, &list)
	if want := len(token.KeyAlgorithms) + 2; len(list.Certificates) != want {
		t.Fatalf("%d certificates on the card, want %d (no duplicates)", len(list.Certificates), want)
	}
}

func TestCSRInputChecks(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	before := len(d.prompts())
	bad := []map[string]any{
		{},
		{"commonName": strings.Repeat("x", 65)},
		{"commonName": "Alice\x07"},
		{"commonName": "Alice", "country": "Poland"},
		{"commonName": "Alice", "country": "pl"},
		{"emailAddress": "not an address"},
		{"commonName": " padded"},
	}
	for _, s := range bad {
		err := c.call("csr.create", map[string]any{"keyId": gen.KeyID, "subject": s}, nil)
		wantCode(t, err, protocol.CodeInvalidParams)
	}
	wantCode(t, c.call("csr.create", map[string]any{"keyId": gen.KeyID, "subject": subject, "emails": []string{"bad"}}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("keys.generate", map[string]any{"algorithm": "EC-P256", "csr": map[string]any{"subject": map[string]any{}}}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("csr.create", map[string]any{"keyId": gen.KeyID, "subject": subject, "signatureAlgorithm": "RSA-PSS-SHA256"}, nil), protocol.CodeUnsupported)
	if n := len(d.prompts()) - before; n != 0 {
		t.Fatalf("bad input opened %d dialogs", n)
	}
	var res protocol.CSRCreateResult
	c.mustCall("csr.create", map[string]any{"keyId": gen.KeyID, "subject": map[string]any{"commonName": "Only CN"}, "signatureAlgorithm": "ECDSA-SHA384"}, &res)
	blk, _ := pem.Decode([]byte(res.CSR))
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || req.CheckSignature() != nil || req.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Fatalf("csr: %v %v", err, req.SignatureAlgorithm)
	}
}

func TestInstallMismatchAndMalformed(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, nil)
	// A certificate for a key that lives elsewhere: an openssl key.
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k.pem")
	csrPath := filepath.Join(dir, "r.pem")
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", csrPath,
		"-subj", "/CN=Elsewhere", "-addext", "subjectAltName=email:else@example.org")
	csrPEM, _ := os.ReadFile(csrPath)
	cert, err := ca.Issue(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	var before protocol.CertificatesList
	c.mustCall("certificates.list", nil, &before)
	prompts := len(d.prompts())
	wantCode(t, c.call("certificates.install", map[string]any{"certificate": democa.PEM(cert), "chain": []string{democa.PEM(ca.Intermediate)}}, nil), protocol.CodeCertificateMismatch)
	var after protocol.CertificatesList
	c.mustCall("certificates.list", nil, &after)
	if len(after.Certificates) != len(before.Certificates) || len(d.prompts()) != prompts {
		t.Fatal("a refused install changed the card or asked for a PIN")
	}
	for _, bad := range []string{"", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", base64.StdEncoding.EncodeToString([]byte("not der"))} {
		wantCode(t, c.call("certificates.install", map[string]any{"certificate": bad}, nil), protocol.CodeInvalidParams)
	}
	// A leaf where the chain belongs is refused too.
	wantCode(t, c.call("certificates.install", map[string]any{"certificate": democa.PEM(cert), "chain": []string{democa.PEM(cert)}}, nil), protocol.CodeInvalidParams)
}

func TestDeleteKeyNeedsConfirmation(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256", "label": "to delete"}, &gen)
	t.Setenv("CB_TEST_CONFIRM", "no")
	wantCode(t, c.call("keys.delete", map[string]any{"keyId": gen.KeyID}, nil), protocol.CodeUserCancelled)
	var keys protocol.KeysList
	c.mustCall("keys.list", nil, &keys)
	if len(keys.Keys) != 1 {
		t.Fatal("key deleted without confirmation")
	}
	last := d.prompts()[len(d.prompts())-1]
	if !strings.HasPrefix(last, "CONFIRM") || !strings.Contains(last, "to delete") {
		t.Fatalf("confirmation does not name the key: %q", last)
	}
	t.Setenv("CB_TEST_CONFIRM", "yes")
	c.mustCall("keys.delete", map[string]any{"keyId": gen.KeyID}, nil)
	c.mustCall("keys.list", nil, &keys)
	if len(keys.Keys) != 0 {
		t.Fatal("key still there")
	}
	wantCode(t, c.call("keys.delete", map[string]any{"keyId": gen.KeyID}, nil), protocol.CodeKeyNotFound)
}

func TestPKCS12Import(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	queue := filepath.Join(t.TempDir(), "answers")
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	answer := func(lines ...string) {
		os.WriteFile(queue, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	}
	bundles := []struct {
		name, keyAlg string
		args         []string
	}{
		{"openssl3-default-rsa", "rsa:2048", nil},
		{"legacy-3des-rsa", "rsa:2048", []string{"-legacy"}},
		{"openssl3-default-ec", "ec", nil},
	}
	for i, b := range bundles {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			keyPath, csrPath, certPath, chainPath, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "r.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "chain.pem"), filepath.Join(dir, "b.p12")
			newkey := []string{"-newkey", b.keyAlg}
			if b.keyAlg == "ec" {
				newkey = append(newkey, "-pkeyopt", "ec_paramgen_curve:P-384")
			}
			openssl(t, append(append([]string{"req", "-new"}, newkey...), "-nodes", "-keyout", keyPath, "-out", csrPath,
				"-subj", "/CN=Bundle "+b.name, "-addext", "subjectAltName=email:bundle@example.org")...)
			csrPEM, _ := os.ReadFile(csrPath)
			cert, err := ca.Issue(csrPEM)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(certPath, []byte(democa.PEM(cert)), 0o600)
			os.WriteFile(chainPath, []byte(democa.PEM(ca.Intermediate, ca.Root)), 0o600)
			openssl(t, append([]string{"pkcs12", "-export", "-inkey", keyPath, "-in", certPath, "-certfile", chainPath, "-out", p12, "-passout", "pass:s3cret"}, b.args...)...)
			data, _ := os.ReadFile(p12)

			var keysBefore protocol.KeysList
			c.mustCall("keys.list", nil, &keysBefore)
			answer("pin wrong-password")
			wantCode(t, c.call("pkcs12.import", map[string]any{"pkcs12": data}, nil), protocol.CodePINIncorrect)
			var keysAfter protocol.KeysList
			c.mustCall("keys.list", nil, &keysAfter)
			if len(keysAfter.Keys) != len(keysBefore.Keys) {
				t.Fatal("a wrong password wrote to the card")
			}

			answer("pin s3cret", "pin 123456")
			var res protocol.PKCS12ImportResult
			c.mustCall("pkcs12.import", map[string]any{"pkcs12": data, "label": "imported " + b.name}, &res)
			if res.Chain != 2 || !strings.Contains(res.Subject, b.name) {
				t.Fatalf("import = %+v", res)
			}
			// The key signs, and the signature verifies with the certificate.
			alg := "ECDSA-SHA384"
			if strings.HasPrefix(b.keyAlg, "rsa") {
				alg = "RSA-PKCS1-SHA256"
			}
			sa, _ := token.ParseSignAlgorithm(alg)
			var sig protocol.SignResult
			dg := digestFor(sa.Hash, "p12")
			c.mustCall("sign", map[string]any{"keyId": res.KeyID, "algorithm": alg, "digest": dg}, &sig)
			if err := verifySig(cert.RawSubjectPublicKeyInfo, sa, dg, sig.Signature); err != nil {
				t.Fatal(err)
			}
			var list protocol.CertificatesList
			c.mustCall("certificates.list", nil, &list)
			if want := i + 1 + 2; len(list.Certificates) != want {
				t.Fatalf("%d certificates, want %d", len(list.Certificates), want)
			}
			// The same bundle again is refused: the key is on the card.
			answer("pin s3cret", "pin 123456")
			wantCode(t, c.call("pkcs12.import", map[string]any{"pkcs12": data}, nil), protocol.CodeInvalidParams)
		})
	}
	wantCode(t, c.call("pkcs12.import", map[string]any{"pkcs12": []byte("junk")}, nil), protocol.CodeInvalidParams)
}
