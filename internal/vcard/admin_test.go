package vcard_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard"
)

// TestAdminWithTool: key import, a new management key, PIN retries and the
// reset of a card whose PIN and PUK are both blocked, through yubico-piv-tool.
func TestAdminWithTool(t *testing.T) {
	b := newBench(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := b.file("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b.piv("-a", "import-key", "-s", "9d", "-i", keyFile)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	cert := b.file("9d.crt.pem", b.ca.issue(t, spki, "vcard imported"))
	b.piv("-a", "import-certificate", "-s", "9d", "-i", cert)
	b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "test-signature", "-s", "9d", "-i", cert)

	newKey := "0102030405060708090A0B0C0D0E0F101112131415161718"
	b.piv("-a", "set-mgm-key", "-n", newKey)
	if out, err := b.try("yubico-piv-tool", "-a", "delete-certificate", "-s", "9d"); err == nil {
		t.Fatalf("the old management key still works:\n%s", out)
	}
	b.reinsert()
	b.piv("-k"+newKey, "-a", "delete-certificate", "-s", "9d")
	if out, err := b.try("yubico-piv-tool", "-a", "read-certificate", "-s", "9d"); err == nil {
		t.Fatalf("deleted certificate still there:\n%s", out)
	}

	b.piv("-k"+newKey, "-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "pin-retries", "--pin-retries", "5", "--puk-retries", "4")
	mustContain(t, b.piv("-a", "status"), "PIN tries left:\t5")
	if out, err := b.try("yubico-piv-tool", "-a", "reset"); err == nil {
		t.Fatalf("reset with a usable PIN:\n%s", out)
	}
	for i := 0; i < 5; i++ {
		b.try("yubico-piv-tool", "-a", "verify-pin", "-P", "000000")
	}
	for i := 0; i < 4; i++ {
		b.try("yubico-piv-tool", "-a", "change-puk", "-P", "00000000", "-N", "11111111")
	}
	b.piv("-a", "reset")
	status := b.piv("-a", "status")
	mustContain(t, status, "PIN tries left:\t3")
	if strings.Contains(status, "Slot 9d") {
		t.Fatalf("reset kept a certificate:\n%s", status)
	}
	b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN)
	b.piv("-a", "delete-certificate", "-s", "9a") // the default management key again
}

// TestUnknownCard: --mode unknown is a card OpenSC and Yubico's tools do not
// take; --slow delays every answer.
func TestUnknownCard(t *testing.T) {
	b := newBench(t)
	b.pcsc.Remove(t, 0)
	slow := 30 * time.Millisecond
	b.card = b.pcsc.Insert(t, 0, t.TempDir(), vcard.Options{Mode: vcard.ModeUnknown, Slow: slow})
	start := time.Now()
	out, err := b.try("yubico-piv-tool", "-a", "status")
	if err == nil {
		t.Fatalf("yubico-piv-tool took the unknown card:\n%s", out)
	}
	if time.Since(start) < slow {
		t.Errorf("answers came in %v, faster than --slow %v", time.Since(start), slow)
	}
	out, _ = b.try("opensc-tool", "--reader", "0", "--atr")
	mustContain(t, out, "63:62:78:2d:75:6e:6b:6e:6f:77:6e")
	out, err = b.try("opensc-tool", "--reader", "0", "--name")
	if err == nil && !strings.Contains(out, "nsupported") {
		t.Fatalf("OpenSC recognised the unknown card:\n%s", out)
	}
}
