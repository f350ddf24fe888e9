package server

import (
	"crypto"
	"crypto/sha256"
	"os"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/moduletest"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
)

// cardNamed returns the card labelled label from cards.list.
func cardNamed(t *testing.T, c *client, label string) protocol.Card {
	t.Helper()
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	for _, r := range cards.Readers {
		if r.Card != nil && r.Card.Label == label {
			return *r.Card
		}
	}
	t.Fatalf("no card %q in %+v", label, cards)
	return protocol.Card{}
}

// fullFlow is what a portal does with a card, named by its cards.list
// serial: generate with a CSR, install the certificate, sign raw and CMS,
// S/MIME-sign a message, and change the PIN, each judged by openssl.
func fullFlow(t *testing.T, c *client, card protocol.Card, pin, newPIN, alg string) {
	t.Helper()
	ca, rootPath := newCA(t)
	t.Setenv("CB_TEST_PIN", pin)
	email := strings.ToLower(strings.Fields(card.Label)[0]) + "@example.org"
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": card.Serial, "algorithm": alg, "label": "mail",
		"csr": map[string]any{"subject": map[string]any{"commonName": card.Label, "emailAddress": email}}}, &gen)
	cert, err := ca.Issue([]byte(gen.CSR))
	if err != nil {
		t.Fatal(err)
	}
	c.mustCall("certificates.install", map[string]any{"card": card.Serial, "certificate": democa.PEM(cert),
		"chain": []string{democa.PEM(ca.Intermediate), democa.PEM(ca.Root)}}, nil)

	sa := "ECDSA-SHA256"
	if strings.HasPrefix(alg, "RSA") {
		sa = "RSA-PKCS1-SHA256"
	}
	signAlg, _ := token.ParseSignAlgorithm(sa)
	dg := digestFor(crypto.SHA256, card.Serial)
	var raw protocol.SignResult
	c.mustCall("sign", map[string]any{"card": card.Serial, "keyId": gen.KeyID, "algorithm": sa, "digest": dg}, &raw)
	if err := verifySig(gen.PublicKey, signAlg, dg, raw.Signature); err != nil {
		t.Fatalf("raw signature on %s: %v", card.Serial, err)
	}

	document := []byte("a document for " + card.Label)
	sum := sha256.Sum256(document)
	var cms protocol.SignResult
	c.mustCall("sign", map[string]any{"card": card.Serial, "keyId": gen.KeyID, "format": "cms", "digest": sum[:], "digestAlgorithm": "SHA-256"}, &cms)
	openssl(t, "cms", "-verify", "-inform", "DER", "-in", writeTemp(t, "sig.p7s", string(cms.Signature)), "-binary",
		"-content", writeTemp(t, "doc", string(document)), "-CAfile", rootPath, "-out", os.DevNull)

	msg := strings.Replace(mail, "alice@example.org", email, 1)
	var signed protocol.SMIMEResult
	c.mustCall("smime.sign", map[string]any{"card": card.Serial, "message": []byte(msg)}, &signed)
	openssl(t, "smime", "-verify", "-in", writeTemp(t, "signed.eml", string(signed.Message)), "-CAfile", rootPath, "-out", os.DevNull)

	queue(t, "pin "+pin, "pin "+newPIN)
	c.mustCall("pin.change", map[string]any{"card": card.Serial}, nil)
	t.Setenv("CB_TEST_PIN_QUEUE", "")
	t.Setenv("CB_TEST_PIN", newPIN)
	c.mustCall("sign", map[string]any{"card": card.Serial, "keyId": gen.KeyID, "algorithm": sa, "digest": dg}, &raw)
}

// Two tpm2-pkcs11 tokens on one software TPM share a serial; each is a
// card of its own name through the whole portal flow, next to SoftHSM2.
func TestTPM2TokensOverWebSocket(t *testing.T) {
	lib := moduletest.NewTPM(t,
		moduletest.TPMToken{Label: "Alice TPM", PIN: "111111", SOPIN: "22222222"},
		moduletest.TPMToken{Label: "Bob TPM", PIN: "333333", SOPIN: "44444444"})
	d := startDaemon(t, daemonOpts{modules: []string{lib}})
	c := d.dial(portal)
	alice, bob := cardNamed(t, c, "Alice TPM"), cardNamed(t, c, "Bob TPM")
	if alice.Serial == bob.Serial || alice.TokenSerial != bob.TokenSerial {
		t.Fatalf("cards %q and %q", alice.Serial, bob.Serial)
	}
	wantCode(t, c.call("keys.list", map[string]any{"card": alice.TokenSerial}, nil), protocol.CodeInvalidParams)
	fullFlow(t, c, alice, "111111", "555555", "EC-P256")
	fullFlow(t, c, bob, "333333", "666666", "RSA-2048")
}

// NSS's softokn, given its database through --module 'PATH;ARGS'.
func TestNSSOverWebSocket(t *testing.T) {
	nss := moduletest.NewNSS(t)
	d := startDaemon(t, daemonOpts{modules: []string{nss.Module}})
	c := d.dial(portal)
	fullFlow(t, c, cardNamed(t, c, moduletest.NSSLabel), nss.PIN, "nss-pin-2", "EC-P256")
}
