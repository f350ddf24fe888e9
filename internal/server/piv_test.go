package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// pivBench is the daemon with OpenSC and ykcs11 loaded, as a user who
// installed both has them, and the virtual PIV card in a reader of a
// private pcscd.
type pivBench struct {
	t      testing.TB
	d      *testDaemon
	pcsc   *pcsctest.PCSC
	card   *vcard.Card
	state  string
	serial string
	reader string
}

func startPIV(t testing.TB) *pivBench { return startPIVWith(t, vcard.Options{}) }

func startPIVWith(t testing.TB, opts vcard.Options, dopts ...daemonOpts) *pivBench {
	t.Helper()
	// One pcscd for the test binary: libpcsclite, loaded with the
	// modules into this process, finds its pcscd once.
	p := pcsctest.Shared(t)
	state := t.TempDir()
	card := p.Insert(t, 0, state, opts)
	var mods []string
	for _, find := range []func() (string, error){pcsctest.OpenSCModule, pcsctest.YKCS11Module} {
		m, err := find()
		if err != nil {
			pcsctest.Missing(t, err)
		}
		mods = append(mods, m)
	}
	b := &pivBench{t: t, pcsc: p, card: card, state: state}
	do := daemonOpts{}
	if len(dopts) > 0 {
		do = dopts[0]
	}
	do.modules = mods
	b.d = startDaemon(t, do)
	var cards protocol.CardsList
	b.d.dial(portal).mustCall("cards.list", nil, &cards)
	for _, r := range cards.Readers {
		if strings.HasPrefix(r.Name, p.Readers[0].Name) {
			if r.Card == nil || b.serial != "" {
				t.Fatalf("the PIV card is listed %s: %+v", map[bool]string{true: "twice", false: "without a card"}[b.serial != ""], cards.Readers)
			}
			b.serial, b.reader = r.Card.Serial, r.Name
			if !r.Card.FixedSlots || !strings.Contains(r.Module, "ykcs11") {
				t.Fatalf("card %+v through %s: want fixed slots through ykcs11", r.Card, r.Module)
			}
		}
	}
	if b.serial == "" {
		t.Fatalf("no PIV card in %+v", cards.Readers)
	}
	return b
}

// pivTool runs yubico-piv-tool against the test's pcscd.
func (b *pivBench) pivTool(args ...string) string {
	b.t.Helper()
	cmd := exec.Command("yubico-piv-tool", append([]string{"-r", "Yubico"}, args...)...)
	cmd.Env = b.pcsc.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.t.Fatalf("yubico-piv-tool %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// testCA issues certificates for CSRs, as a CA portal would.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "PIV Test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{key: key, cert: cert}
}

func (ca *testCA) issue(t *testing.T, csrPEM string) string {
	t.Helper()
	blk, _ := pem.Decode([]byte(csrPEM))
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || req.CheckSignature() != nil {
		t.Fatalf("csr: %v %v", err, req.CheckSignature())
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: req.Subject, EmailAddresses: req.EmailAddresses,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, req.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (ca *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// TestPIVEnrolment walks a CA's enrolment on the PIV card: a key pair and
// request in one PIN dialog, into the slot of the purpose; the certificate
// and chain installed; signatures (9c asks for the PIN before each, given
// once by the user); and what Yubico's own tool then sees on the card.
func TestPIVEnrolment(t *testing.T) {
	b := startPIV(t)
	c := b.d.dial(portal)
	ca := newTestCA(t)
	csrReq := map[string]any{"subject": map[string]any{"commonName": "Alice PIV"}, "emails": []string{"alice@example.org"}}
	for _, k := range []struct{ purpose, alg, slot, sign string }{
		{"sign", "EC-P256", "9c", "ECDSA-SHA256"},
		{"", "RSA-2048", "9a", "RSA-PKCS1-SHA256"},
		{"decrypt", "EC-P384", "9d", "ECDSA-SHA384"},
	} {
		var gen protocol.KeysGenerateResult
		c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": k.alg, "purpose": k.purpose, "csr": csrReq}, &gen)
		if gen.Slot != k.slot || gen.Algorithm != k.alg {
			t.Fatalf("%s: generated %s in slot %q", k.slot, gen.Algorithm, gen.Slot)
		}
		leaf := ca.issue(t, gen.CSR)
		var inst protocol.CertificatesInstallResult
		c.mustCall("certificates.install", map[string]any{"card": b.serial, "certificate": leaf, "chain": []string{ca.pem()}}, &inst)
		if inst.KeyID != gen.KeyID {
			t.Fatalf("%s: certificate went to key %s, want %s", k.slot, inst.KeyID, gen.KeyID)
		}
		alg, _ := token.ParseSignAlgorithm(k.sign)
		var digests [][]byte
		for i := range 3 {
			digests = append(digests, digestFor(alg.Hash, k.slot+string(rune('a'+i))))
		}
		var res protocol.SignResult
		c.mustCall("sign", map[string]any{"card": b.serial, "keyId": gen.KeyID, "algorithm": k.sign, "digests": digests}, &res)
		// 9c wants the PIN for every signature; the one dialog says so.
		if p := b.d.prompts(); strings.Contains(p[len(p)-1], "for each of the 3 signatures") != (k.slot == "9c") {
			t.Fatalf("%s: batch dialog %q", k.slot, p[len(p)-1])
		}
		for i, d := range digests {
			if err := verifySig(gen.PublicKey, alg, d, res.Signatures[i]); err != nil {
				t.Fatalf("%s signature %d: %v", k.slot, i, err)
			}
		}
		if st := b.pivTool("-a", "status"); !strings.Contains(st, "Slot "+k.slot) || !strings.Contains(st, "Alice PIV") {
			t.Fatalf("yubico-piv-tool does not see slot %s:\n%s", k.slot, st)
		}
	}
	// Three PIN dialogs per key: generate with request, install, sign.
	if n := len(b.d.prompts()); n != 9 {
		t.Fatalf("%d dialogs, want 9:\n%s", n, strings.Join(b.d.prompts(), "\n"))
	}
	// The CA certificate given as chain is not a key.
	var keys protocol.KeysList
	c.mustCall("keys.list", map[string]any{"card": b.serial}, &keys)
	if len(keys.Keys) != 3 {
		t.Fatalf("keys after three enrolments: %+v", keys.Keys)
	}
	// A full slot is refused before any dialog, unless the page asks to
	// replace it (and the user, told so in the dialog, agrees).
	before := len(b.d.prompts())
	wantCode(t, c.call("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256", "purpose": "sign"}, nil), protocol.CodeSlotOccupied)
	if len(b.d.prompts()) != before {
		t.Fatal("a full slot asked for the PIN")
	}
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256", "purpose": "sign", "replace": true}, &gen)
	if p := b.d.prompts(); !strings.Contains(p[len(p)-1], "replacing the key") {
		t.Fatalf("the dialog does not say the key is replaced: %s", p[len(p)-1])
	}
	wantCode(t, c.call("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256", "purpose": "wrong"}, nil), protocol.CodeInvalidParams)
}

// TestPIVPINTriesAndUnblock: wrong PINs count down on the card and lock it
// at the third; nothing is ever retried; the PUK, asked in the dialog,
// unblocks it, and pin.change works.
func TestPIVPINTriesAndUnblock(t *testing.T) {
	b := startPIV(t)
	c := b.d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256"}, &gen)
	sign := func() *protocol.Error {
		return c.call("sign", map[string]any{"card": b.serial, "keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	}
	t.Setenv("CB_TEST_PIN", "654321")
	for i := 1; i <= 2; i++ {
		err := sign()
		wantCode(t, err, protocol.CodePINIncorrect)
		if i == 2 && (err.Data.FinalTry == nil || !*err.Data.FinalTry) {
			t.Fatalf("after two wrong PINs: %+v, want final try", err.Data)
		}
	}
	wantCode(t, sign(), protocol.CodePINLocked)
	wantCode(t, sign(), protocol.CodePINLocked) // no dialog, no try
	if st := b.pivTool("-a", "status"); !strings.Contains(st, "PIN tries left:\t0") {
		t.Fatalf("yubico-piv-tool after three wrong PINs:\n%s", st)
	}
	// pin.unblock asks for the PUK, then the new PIN.
	queue := filepath.Join(t.TempDir(), "answers")
	os.WriteFile(queue, []byte("pin 12345678\npin 24681357\n"), 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	c.mustCall("pin.unblock", map[string]any{"card": b.serial}, nil)
	t.Setenv("CB_TEST_PIN", "24681357")
	if err := sign(); err != nil {
		t.Fatalf("sign with the new PIN: %v", err)
	}
	// pin.change: the current PIN, then the new one.
	os.WriteFile(queue, []byte("pin 24681357\npin 123456\n"), 0o600)
	c.mustCall("pin.change", map[string]any{"card": b.serial}, nil)
	b.pivTool("-a", "verify-pin", "-P", "123456")
}

// TestPIVCardPulledDuringBatch: the card leaves in the middle of a batch;
// the page hears card_removed, the daemon goes on, and once the card is
// back the next request works.
func TestPIVCardPulledDuringBatch(t *testing.T) {
	// The card leaves before answering its 20th signature.
	var signs atomic.Int32
	var armed atomic.Bool
	b := startPIVWith(t, vcard.Options{Pull: func(ins byte) bool {
		return ins == 0x87 && armed.Load() && signs.Add(1) == 20
	}})
	c := b.d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256"}, &gen)
	var digests [][]byte
	for i := range 100 {
		digests = append(digests, digestFor(crypto.SHA256, string(rune(i))))
	}
	armed.Store(true)
	err := c.call("sign", map[string]any{"card": b.serial, "keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": digests}, nil)
	wantCode(t, err, protocol.CodeCardRemoved)
	// The reader reports the card gone within a second (pcscd polls it).
	gone := time.Now().Add(2 * time.Second)
	for listed(t, c, b.serial) {
		if time.Now().After(gone) {
			t.Fatal("the pulled card is still listed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.card = b.pcsc.Insert(t, 0, b.state, vcard.Options{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.call("sign", map[string]any{"card": b.serial, "keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digests[0]}, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after re-insertion: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func listed(t *testing.T, c *client, serial string) bool {
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	for _, rd := range cards.Readers {
		if rd.Card != nil && rd.Card.Serial == serial {
			return true
		}
	}
	return false
}

// TestPIVEventsFollowTheReader: a subscribed page hears the card leave and
// come back within a second of the reader noticing, polled at the
// daemon's usual half second.
func TestPIVEventsFollowTheReader(t *testing.T) {
	b := startPIV(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.d.svc.Watch(ctx, 500*time.Millisecond, nil)
	c := b.d.dial(portal)
	var first protocol.CardsList
	c.mustCall("events.subscribe", nil, &first)
	wait := func(present bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			c.ws.SetReadDeadline(deadline)
			var r reply
			if err := c.ws.ReadJSON(&r); err != nil {
				t.Fatalf("no cards.changed with the card %s within a second: %v", map[bool]string{true: "in", false: "out"}[present], err)
			}
			if r.Method != "cards.changed" {
				continue
			}
			var l protocol.CardsList
			json.Unmarshal(r.Params, &l)
			found := false
			for _, rd := range l.Readers {
				found = found || (rd.Card != nil && rd.Card.Serial == b.serial)
			}
			if found == present {
				return
			}
		}
	}
	b.pcsc.Remove(t, 0) // returns once pcscd noticed
	wait(false)
	b.card = b.pcsc.Insert(t, 0, b.state, vcard.Options{})
	wait(true)
}

// TestPIVMail: S/MIME and CMS with keys in 9a, 9c and 9d of the PIV card:
// clear-signed mail and a detached CMS signature that openssl verifies,
// and mail that openssl encrypted to the RSA key (9a) and to the EC key
// (9d, ECDH on the card) opened by smime.decrypt.
func TestPIVMail(t *testing.T) {
	b := startPIV(t)
	c := b.d.dial(portal)
	ca := newTestCA(t)
	caPath := writeTemp(t, "ca.pem", ca.pem())
	certs := map[string]string{}
	keys := map[string]string{}
	for _, k := range []struct{ purpose, alg, mail string }{
		{"authenticate", "RSA-2048", "alice@example.org"},
		{"sign", "EC-P256", "alice-sign@example.org"},
		{"decrypt", "EC-P384", "alice-ec@example.org"},
	} {
		var gen protocol.KeysGenerateResult
		c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": k.alg, "purpose": k.purpose,
			"csr": map[string]any{"subject": map[string]any{"commonName": "Alice"}, "emails": []string{k.mail}}}, &gen)
		leaf := ca.issue(t, gen.CSR)
		c.mustCall("certificates.install", map[string]any{"card": b.serial, "certificate": leaf}, nil)
		certs[k.purpose], keys[k.purpose] = writeTemp(t, k.purpose+".pem", leaf), gen.KeyID
	}
	var res protocol.SMIMEResult
	c.mustCall("smime.sign", map[string]any{"card": b.serial, "message": []byte(mail)}, &res)
	if out := openssl(t, "smime", "-verify", "-in", writeTemp(t, "signed.eml", string(res.Message)), "-CAfile", caPath); !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl smime -verify:\n%s", out)
	}
	document := []byte("a contract, signed with slot 9c")
	var sig protocol.SignResult
	c.mustCall("sign", map[string]any{"card": b.serial, "keyId": keys["sign"], "format": "cms", "algorithm": "ECDSA-SHA256", "data": document, "digestAlgorithm": "SHA-256"}, &sig)
	p7 := writeTemp(t, "sig.p7s", string(sig.Signature))
	if out := openssl(t, "cms", "-verify", "-inform", "DER", "-in", p7, "-content", writeTemp(t, "doc", string(document)), "-binary", "-CAfile", caPath, "-purpose", "any"); !strings.Contains(out, string(document)) {
		t.Fatalf("openssl cms -verify: %s", out)
	}
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\nThe secret is 42.\r\n"
	innerPath := writeTemp(t, "inner.txt", inner)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"rsa 9a", []string{"smime", "-encrypt", "-aes256", "-in", innerPath, certs["authenticate"]}},
		{"ecdh 9d", []string{"cms", "-encrypt", "-aes-256-gcm", "-in", innerPath, certs["decrypt"]}},
	} {
		out, err := exec.Command("openssl", tc.args...).Output()
		if err != nil {
			t.Fatalf("%s: openssl: %v", tc.name, err)
		}
		var res protocol.SMIMEResult
		c.mustCall("smime.decrypt", map[string]any{"card": b.serial, "message": out}, &res)
		if strings.ReplaceAll(string(res.Message), "\r\n", "\n") != strings.ReplaceAll(inner, "\r\n", "\n") {
			t.Fatalf("%s: decrypted %q", tc.name, res.Message)
		}
	}
}

// TestPIVManagementKey: a card with a management key of its own gets it
// from the user, in a dialog, when the factory default is refused; a wrong
// one is reported and nothing is written.
func TestPIVManagementKey(t *testing.T) {
	b := startPIV(t)
	const own = "1122334455667788990011223344556677889900aabbccdd"
	b.pivTool("-a", "set-mgm-key", "-n", own)
	c := b.d.dial(portal)
	queue := filepath.Join(t.TempDir(), "answers")
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	os.WriteFile(queue, []byte("pin 123456\npin 000000000000000000000000000000000000000000000000\n"), 0o600)
	wantCode(t, c.call("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256"}, nil), protocol.CodePINIncorrect)
	if st := b.pivTool("-a", "status"); strings.Contains(st, "Slot 9a") {
		t.Fatalf("a refused management key wrote to the card:\n%s", st)
	}
	os.WriteFile(queue, []byte("pin 123456\npin "+own+"\n"), 0o600)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256"}, &gen)
	p := b.d.prompts()
	if !strings.Contains(p[len(p)-1], "management key") || !strings.Contains(p[len(p)-1], portal) {
		t.Fatalf("management key dialog: %q", p[len(p)-1])
	}
	if st := b.pivTool("-a", "status"); !strings.Contains(st, "Slot 9a") {
		t.Fatalf("no key in 9a:\n%s", st)
	}
}
