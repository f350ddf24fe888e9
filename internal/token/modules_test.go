package token

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/moduletest"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

// cardByLabel returns the name of the card labelled label.
func cardByLabel(t *testing.T, m *Manager, label string) Card {
	t.Helper()
	for _, r := range m.Readers() {
		if r.Card != nil && r.Card.Label == label {
			return *r.Card
		}
	}
	t.Fatalf("no card labelled %q in %+v", label, m.Readers())
	return Card{}
}

// flow generates a key on the card, signs with it, changes the PIN and
// signs with the new one; the old one is then refused.
func flow(t *testing.T, m *Manager, card, pin, newPIN, alg string) {
	t.Helper()
	ctx := context.Background()
	ka, err := ParseKeyAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	var k KeyInfo
	err = m.Do(ctx, card, pinFunc(pin, nil), func(s *Session) (err error) {
		k, err = s.GenerateKey(ka, "flow "+alg, GenerateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("generate on %s: %v", card, err)
	}
	if _, err := m.Key(ctx, card, k.ID); err != nil {
		t.Fatalf("key list of %s: %v", card, err)
	}
	sa, _ := ParseSignAlgorithm("ECDSA-SHA256")
	if ka.RSA {
		sa, _ = ParseSignAlgorithm("RSA-PKCS1-SHA256")
	}
	d := hashOf(crypto.SHA256, []byte(card))
	sign := func(pin string) ([]byte, error) {
		var sigs [][]byte
		err := m.Do(ctx, card, pinFunc(pin, nil), func(s *Session) (err error) {
			sigs, err = s.Sign(k, sa, [][]byte{d})
			return err
		})
		if err != nil {
			return nil, err
		}
		return sigs[0], nil
	}
	sig, err := sign(pin)
	if err != nil {
		t.Fatalf("sign on %s: %v", card, err)
	}
	verify(t, k.Public, sa, d, sig)
	if err := m.ChangePIN(ctx, card, pin, newPIN); err != nil {
		t.Fatalf("change pin of %s: %v", card, err)
	}
	if _, err := sign(newPIN); err != nil {
		t.Fatalf("sign with the new pin on %s: %v", card, err)
	}
	var bad *PINIncorrectError
	if _, err := sign(pin); !errors.As(err, &bad) {
		t.Fatalf("sign with the old pin on %s: %v", card, err)
	}
}

// NSS's softokn needs its database in the initialisation arguments, shows
// two tokens with one serial, and wants a login before C_SetPIN.
func TestNSSSoftokn(t *testing.T) {
	nss := moduletest.NewNSS(t)
	m := open(t, Options{Modules: []string{nss.Module}}, nil)
	db := cardByLabel(t, m, moduletest.NSSLabel)
	other := cardByLabel(t, m, "NSS Generic Crypto Services")
	if db.Serial == other.Serial || db.TokenSerial != other.TokenSerial || !strings.HasPrefix(db.Serial, db.TokenSerial+"-") {
		t.Fatalf("card names %q and %q for serial %q", db.Serial, other.Serial, db.TokenSerial)
	}
	if _, err := m.Keys(context.Background(), db.TokenSerial); !errors.Is(err, ErrAmbiguousCard) {
		t.Fatalf("the shared serial: %v", err)
	}
	flow(t, m, db.Serial, nss.PIN, "nss-pin-2", "EC-P256")
}

// tpm2-pkcs11 gives both tokens of the TPM the same serial; each is named
// apart and works on its own.
func TestTPM2TwoTokens(t *testing.T) {
	lib := moduletest.NewTPM(t,
		moduletest.TPMToken{Label: "alice", PIN: "111111", SOPIN: "22222222"},
		moduletest.TPMToken{Label: "bob", PIN: "333333", SOPIN: "44444444"})
	m := open(t, Options{Modules: []string{lib}}, nil)
	alice, bob := cardByLabel(t, m, "alice"), cardByLabel(t, m, "bob")
	if alice.Serial == bob.Serial || alice.TokenSerial != bob.TokenSerial {
		t.Fatalf("card names %q and %q", alice.Serial, bob.Serial)
	}
	flow(t, m, alice.Serial, "111111", "555555", "EC-P256")
	flow(t, m, bob.Serial, "333333", "666666", "RSA-2048")
	// tpm2-pkcs11 writes a P-521 point's length as the one byte 0x85; the
	// key is read, not dropped. (Signing with it fails inside
	// tpm2-pkcs11 1.9 with CKR_HOST_MEMORY, whoever asks.)
	p521, _ := ParseKeyAlgorithm("EC-P521")
	var k KeyInfo
	err := m.Do(context.Background(), alice.Serial, pinFunc("555555", nil), func(s *Session) (err error) {
		k, err = s.GenerateKey(p521, "p521", GenerateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("generate EC-P521: %v", err)
	}
	if got, err := m.Key(context.Background(), alice.Serial, k.ID); err != nil || got.Algorithm != "EC-P521" || got.Public == nil {
		t.Fatalf("EC-P521 key: %+v, %v", got, err)
	}
	// The names survive a restart.
	m.Close()
	m2 := open(t, Options{Modules: []string{lib}}, nil)
	if again := cardByLabel(t, m2, "alice"); again.Serial != alice.Serial {
		t.Fatalf("alice was %q, is %q after a restart", alice.Serial, again.Serial)
	}
}

// A module that takes seconds for each call neither delays Open nor other
// modules' cards, is named as not answering, and is not re-initialised
// over and over while pages poll. (miekg's GetSlotList calls
// C_GetSlotList twice, so the slow module lists its reader after three
// delays and has answered for its card after four.)
func TestSlowModuleStallsNobody(t *testing.T) {
	tok := softhsmtest.New(t, "fast")
	slow, initLog := moduletest.SlowModule(t, 1500)
	t0 := time.Now()
	m := open(t, Options{Modules: []string{tok.Module, slow}, ScanTimeout: 500 * time.Millisecond}, tok)
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("Open took %v", d)
	}
	ctx := context.Background()
	m.Readers() // waits for the slow module once, at most the timeout
	var names []string
	for _, r := range m.Readers() {
		if r.Status == ReaderNotAnswering {
			names = append(names, r.Name)
		}
	}
	if len(names) != 1 || names[0] != "libslow-pkcs11.so" {
		t.Fatalf("not answering: %v; readers %+v", names, m.Readers())
	}
	// From now on the slow module is known to be slow: requests for the
	// SoftHSM2 card do not wait for it, while it loads and lists.
	deadline := time.Now().Add(7 * time.Second)
	var worst time.Duration
	sawReader := false
	for time.Now().Before(deadline) {
		m.Refresh()
		t1 := time.Now()
		if _, err := m.Keys(ctx, tok.Serial); err != nil {
			t.Fatal(err)
		}
		m.Readers()
		worst = max(worst, time.Since(t1))
		for _, r := range m.Readers() {
			if r.Name == "Slow Reader" && r.Status == ReaderNotAnswering && r.Module == "libslow-pkcs11.so" {
				sawReader = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if worst > 200*time.Millisecond {
		t.Errorf("keys.list and cards.list took up to %v with the slow module present", worst)
	}
	if !sawReader {
		t.Errorf("the slow reader was never named: %+v", m.Readers())
	}
	if n := moduletest.Initializations(initLog); n > 1 {
		t.Errorf("the slow module, whose card is not recognised, was initialised %d times", n)
	}
}

// A module that cannot load (a missing file; NSS's softokn without its
// arguments, which answers CKR_ARGUMENTS_BAD) is left out, and the others
// work on.
func TestModuleThatFailsIsSkipped(t *testing.T) {
	// NSS refuses to start without its init arguments only in a process
	// where it is not running yet; other tests here start it, and its
	// C_Finalize may still be under way. So the check runs in a process
	// of its own: this test binary, run again for this test alone.
	if os.Getenv("CB_TEST_FRESH_PROCESS") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestModuleThatFailsIsSkipped$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CB_TEST_FRESH_PROCESS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	tok := softhsmtest.New(t, "works")
	nss := moduletest.NewNSS(t)
	m := open(t, Options{Modules: []string{"/nonexistent/libnothing.so", ModulePath(nss.Module), tok.Module}}, tok)
	if _, err := m.Keys(context.Background(), tok.Serial); err != nil {
		t.Fatal(err)
	}
	if got := m.Modules(); len(got) != 1 || got[0] != tok.Module {
		t.Fatalf("modules = %q", got)
	}
}

// A key cardbridge cannot use (an Ed25519 pair made by pkcs11-tool) is
// listed with the reason, never silently dropped, and refused by Key.
func TestUnusableKeyIsListed(t *testing.T) {
	tok := softhsmtest.New(t, "ed")
	out, err := exec.Command("pkcs11-tool", "--module", tok.Module, "--token-label", "ed", "--login", "--pin", tok.PIN,
		"--keypairgen", "--key-type", "EC:edwards25519", "--id", "99", "--label", "edkey").CombinedOutput()
	if err != nil {
		moduletest.Missing(t, "pkcs11-tool with EdDSA", fmt.Errorf("%v: %s", err, out))
	}
	m := open(t, Options{}, tok)
	keys, err := m.Keys(context.Background(), tok.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Label != "edkey" || keys[0].Public != nil || !strings.Contains(keys[0].Unusable, "not supported") {
		t.Fatalf("keys = %+v", keys)
	}
	if _, err := m.Key(context.Background(), tok.Serial, keys[0].ID); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Key: %v", err)
	}
}

// Right after Open, a request for the SoftHSM2 card waits for SoftHSM2
// alone, not for a module whose C_Initialize takes 3 s.
func TestSoftTokenRightAfterStart(t *testing.T) {
	tok := softhsmtest.New(t, "first")
	slow, _ := moduletest.SlowModule(t, 3000)
	m := open(t, Options{Modules: []string{slow, tok.Module}}, tok)
	t0 := time.Now()
	if _, err := m.Keys(context.Background(), tok.Serial); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("the first keys.list took %v", d)
	}
}
