package vcard_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"os"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

func (b *bench) p11(module string, args ...string) string {
	b.t.Helper()
	return b.run("pkcs11-tool", append([]string{"--module", module}, args...)...)
}

// verifySig checks a signature of the bench's data file with openssl.
func (b *bench) verifySig(pub, sig, data string) {
	b.t.Helper()
	mustContain(b.t, b.run("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data), "Verified OK")
}

func module(t *testing.T, find func() (string, error)) string {
	t.Helper()
	m, err := find()
	if err != nil {
		pcsctest.Missing(t, err)
	}
	return m
}

// TestOpenSC uses the card through OpenSC's PIV driver, which shows a key
// only once its slot holds a certificate: list, sign (9c with its
// context-specific login), decrypt and derive.
func TestOpenSC(t *testing.T) {
	b := newBench(t)
	sc := module(t, pcsctest.OpenSCModule)
	pub9a, _ := b.genCert("9a", "RSA2048")
	pub9c, _ := b.genCert("9c", "ECCP256")
	pub9d, _ := b.genCert("9d", "ECCP384")
	mustContain(t, b.p11(sc, "-O", "--login", "--pin", vcard.DefaultPIN),
		"CN=vcard 9a", "CN=vcard 9c", "CN=vcard 9d", "always authenticate", "RSA 2048 bits", "EC_POINT 384 bits")

	data := b.file("data", []byte("signed through OpenSC"))
	login := []string{"--login", "--pin", vcard.DefaultPIN}
	b.p11(sc, append(login, "--sign", "--id", "01", "-m", "SHA256-RSA-PKCS", "-i", data, "-o", b.path("9a.sig"))...)
	b.verifySig(pub9a, b.path("9a.sig"), data)
	b.p11(sc, append(login, "--sign", "--id", "02", "-m", "ECDSA-SHA256", "--signature-format", "openssl", "-i", data, "-o", b.path("9c.sig"))...)
	b.verifySig(pub9c, b.path("9c.sig"), data)

	secret := b.file("secret", []byte("a session key"))
	b.run("openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pub9a, "-in", secret, "-out", b.path("enc"))
	b.p11(sc, append(login, "--decrypt", "--id", "01", "-m", "RSA-PKCS", "-i", b.path("enc"), "-o", b.path("dec"))...)
	if got, _ := os.ReadFile(b.path("dec")); !bytes.Equal(got, []byte("a session key")) {
		t.Fatalf("decrypted %q", got)
	}

	peer, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b.p11(sc, append(login, "--derive", "--id", "03", "-m", "ECDH1-DERIVE", "-i", b.file("peer.der", spki), "-o", b.path("shared"))...)
	cardPub, err := x509.ParsePKIXPublicKey(readPEM(t, pub9d))
	if err != nil {
		t.Fatal(err)
	}
	cardECDH, err := cardPub.(interface {
		ECDH() (*ecdh.PublicKey, error)
	}).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.ECDH(cardECDH)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b.path("shared")); !bytes.Equal(got, want) {
		t.Fatalf("ECDH on the card gave %x, want %x", got, want)
	}
}

// TestYKCS11 uses the card through Yubico's PKCS#11 module: key generation
// after an SO login with the management key, certificate writing, signing
// with 9c's context-specific login, and unblocking with "puk:"/"pin:".
func TestYKCS11(t *testing.T) {
	b := newBench(t)
	yk := module(t, pcsctest.YKCS11Module)
	so := []string{"--login", "--login-type", "so", "--so-pin", vcard.DefaultMgmtKey}
	login := []string{"--login", "--pin", vcard.DefaultPIN}
	data := b.file("data", []byte("signed through ykcs11"))

	// ykcs11 IDs: 1 = 9a, 2 = 9c, 3 = 9d, 4 = 9e.
	for _, k := range []struct{ id, keyType, mech string }{
		{"2", "EC:prime256v1", "ECDSA-SHA256"}, {"4", "rsa:2048", "SHA256-RSA-PKCS"},
	} {
		b.p11(yk, append(so, "--keypairgen", "--key-type", k.keyType, "--id", k.id)...)
		der := b.path(k.id + ".pub.der")
		b.p11(yk, "--read-object", "--type", "pubkey", "--id", k.id, "-o", der)
		pub := b.path(k.id + ".pub.pem")
		b.run("openssl", "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pub)
		sig := b.path(k.id + ".sig")
		b.p11(yk, append(login, "--sign", "--id", k.id, "-m", k.mech, "--signature-format", "openssl", "-i", data, "-o", sig)...)
		b.verifySig(pub, sig, data)
	}

	cert := b.file("9e.crt.der", readPEMBytes(t, b.ca.issue(t, readFile(t, b.path("4.pub.der")), "vcard ykcs11 9e")))
	b.p11(yk, append(so, "--write-object", cert, "--type", "cert", "--id", "4")...)
	got := b.piv("-a", "read-certificate", "-s", "9e", "-K", "DER")
	if got != string(readFile(t, cert)) {
		t.Fatal("the certificate written through ykcs11 reads back different")
	}
	mustContain(t, b.p11(module(t, pcsctest.OpenSCModule), "-O"), "CN=vcard ykcs11 9e")

	for i := 0; i < 3; i++ {
		b.try("yubico-piv-tool", "-a", "verify-pin", "-P", "000000")
	}
	mustContain(t, b.piv("-a", "status"), "PIN tries left:\t0")
	b.p11(yk, "--unlock-pin", "--puk", "puk:"+vcard.DefaultPUK, "--new-pin", "pin:"+vcard.DefaultPIN)
	mustContain(t, b.piv("-a", "status"), "PIN tries left:\t3")
	b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
