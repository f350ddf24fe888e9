package vcard_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// bench is a private pcscd with one virtual card in its first reader.
type bench struct {
	t    *testing.T
	pcsc *pcsctest.PCSC
	card *vcard.Card
	dir  string
	home string
	ca   *testCA
}

func newBench(t *testing.T) *bench {
	t.Helper()
	for _, tool := range []string{"yubico-piv-tool", "pkcs11-tool", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			pcsctest.Missing(t, err)
		}
	}
	p := pcsctest.Start(t, 1)
	b := &bench{t: t, pcsc: p, dir: t.TempDir(), home: t.TempDir()}
	b.ca = newCA(t, b.path("ca.pem"))
	b.card = p.Insert(t, 0, b.dir, vcard.Options{Logf: t.Logf})
	return b
}

// reinsert pulls the card and puts it back on the same state directory.
func (b *bench) reinsert() {
	b.t.Helper()
	serial := b.card.Serial()
	b.pcsc.Remove(b.t, 0)
	b.card = b.pcsc.Insert(b.t, 0, b.dir, vcard.Options{Logf: b.t.Logf})
	if b.card.Serial() != serial {
		b.t.Fatalf("serial %d after re-insert, want %d", b.card.Serial(), serial)
	}
}

// run runs a tool against the bench's pcscd and returns its combined output;
// a failure fails the test.
func (b *bench) run(name string, args ...string) string {
	b.t.Helper()
	out, err := b.try(name, args...)
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (b *bench) try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	// HOME and XDG_CACHE_HOME: OpenSC caches card files there.
	cmd.Env = append(b.pcsc.Env(), "HOME="+b.home, "XDG_CACHE_HOME="+b.home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bench) piv(args ...string) string {
	return b.run("yubico-piv-tool", args...)
}

// file writes data into the bench's temp dir and returns its path.
func (b *bench) file(name string, data []byte) string {
	b.t.Helper()
	p := filepath.Join(b.home, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *bench) path(name string) string { return filepath.Join(b.home, name) }

// mustContain fails unless out contains every want.
func mustContain(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

// genCert generates a key in slot with yubico-piv-tool, has the test CA
// certify it, imports the certificate, and checks it with openssl. (The
// tool's own selfsign fails with OpenSSL 3 in yubico-piv-tool 2.2, before
// reaching the card.) It returns the paths of the public key and the
// certificate (PEM).
func (b *bench) genCert(slot, alg string) (pub, cert string) {
	b.t.Helper()
	pub, cert = b.path(slot+".pub.pem"), b.path(slot+".crt.pem")
	b.piv("-a", "generate", "-s", slot, "-A", alg, "-o", pub)
	b.file(slot+".crt.pem", b.ca.issue(b.t, readPEM(b.t, pub), "vcard "+slot))
	b.piv("-a", "import-certificate", "-s", slot, "-i", cert)
	b.run("openssl", "verify", "-CAfile", b.ca.file, cert)
	return pub, cert
}

// TestYubicoPIVTool drives the card with Yubico's own tool: key generation
// in three slots and algorithms, certificates, signatures, decryption and
// ECDH, all checked with openssl.
func TestYubicoPIVTool(t *testing.T) {
	b := newBench(t)
	mustContain(t, b.piv("-a", "status"), "Version:\t5.4.3", "PIN tries left:\t3")

	certs := map[string]string{}
	for _, k := range []struct{ slot, alg string }{{"9a", "RSA2048"}, {"9c", "ECCP256"}, {"9d", "ECCP384"}} {
		_, cert := b.genCert(k.slot, k.alg)
		certs[k.slot] = cert
		// test-signature signs on the card and checks the signature
		// against the certificate; test-decipher decrypts (RSA) or derives
		// (ECDH) on the card and compares.
		b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "test-signature", "-s", k.slot, "-i", cert)
		b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "test-decipher", "-s", k.slot, "-i", cert)
	}
	status := b.piv("-a", "status")
	mustContain(t, status, "Slot 9a:", "CN=vcard 9a", "Slot 9c:", "CN=vcard 9c", "Slot 9d:", "CN=vcard 9d")

	// No PIN, no signature.
	if out, err := b.try("yubico-piv-tool", "-a", "test-signature", "-s", "9a", "-i", certs["9a"]); err == nil {
		t.Fatalf("signed without the PIN:\n%s", out)
	}
	// The certificates come back as they went in.
	for slot, cert := range certs {
		got := b.piv("-a", "read-certificate", "-s", slot)
		want, _ := os.ReadFile(cert)
		if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("certificate of %s read back as\n%s\nwant\n%s", slot, got, want)
		}
	}
}
