package token

import (
	"context"
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

// TestSessionUnusableAfterDo: a Signer that escapes Do fails cleanly
// instead of signing in a session that is gone.
func TestSessionUnusableAfterDo(t *testing.T) {
	tok := softhsmtest.New(t, "escape")
	m := open(t, Options{}, tok)
	k := genKey(t, m, tok, "EC-P256")
	var escaped crypto.Signer
	var sess *Session
	if err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		escaped, sess = s.Signer(k), s
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := escaped.Sign(nil, hashOf(crypto.SHA256, nil), crypto.SHA256); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("escaped signer: %v, want ErrSessionClosed", err)
	}
	if _, err := sess.Keys(); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("escaped session: %v, want ErrSessionClosed", err)
	}
}

// TestAlwaysAuthenticate: a key marked CKA_ALWAYS_AUTHENTICATE (PIV 9c,
// qualified-signature keys) gets the context-specific login before each
// signature, with the PIN typed once for the request. SoftHSM2 refuses the
// signature without it.
func TestAlwaysAuthenticate(t *testing.T) {
	tok := softhsmtest.New(t, "always")
	m := open(t, Options{}, tok)
	ka, _ := ParseKeyAlgorithm("EC-P256")
	var k KeyInfo
	calls := 0
	err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, &calls), func(s *Session) error {
		c := s.c
		params, _ := asn1.Marshal(ka.oid)
		id := []byte("always")
		pub, _, err := c.p.GenerateKeyPair(c.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, true),
			})
		if err != nil {
			return err
		}
		c.wrote = true
		kp, err := c.publicKey(pub)
		if err != nil {
			return err
		}
		k = *kp
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	alg, _ := ParseSignAlgorithm("ECDSA-SHA256")
	digests := [][]byte{hashOf(crypto.SHA256, []byte("a")), hashOf(crypto.SHA256, []byte("b")), hashOf(crypto.SHA256, []byte("c"))}
	var sigs [][]byte
	calls = 0
	if err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, &calls), func(s *Session) (err error) {
		sigs, err = s.Sign(k, alg, digests)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("asked for the pin %d times, want once", calls)
	}
	for i, d := range digests {
		verify(t, k.Public, alg, d, sigs[i])
	}
}

// TestMissingCardDoesNotReinitialiseEachTime: a page asking again and again
// for a card that is not there re-initialises a software token's module at
// most once per reinitEvery.
func TestMissingCardDoesNotReinitialiseEachTime(t *testing.T) {
	tok := softhsmtest.New(t, "missing")
	m := open(t, Options{}, tok)
	m.Readers()
	before := m.mods[0].gen.Load()
	for range 50 {
		if _, err := m.Keys(context.Background(), "no-such-card"); !errors.Is(err, ErrCardNotPresent) {
			t.Fatalf("missing card: %v", err)
		}
	}
	if n := m.mods[0].gen.Load() - before; n > 1 {
		t.Fatalf("%d re-initialisations for 50 requests within a second", n)
	}
}

// TestModuleErrorsStayInTheLog: what a module reports is kept for the log
// (ModuleDetail) and out of the message a page is given.
func TestModuleErrorsStayInTheLog(t *testing.T) {
	for _, rv := range []uint{pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_MECHANISM_INVALID} {
		err := fmt.Errorf("sign on 1234: %w", mapError(pkcs11.Error(rv)))
		if strings.Contains(err.Error(), "CKR_") || strings.Contains(err.Error(), "pkcs11") {
			t.Errorf("%#x: message %q names the module's code", rv, err)
		}
		if !strings.Contains(ModuleDetail(err), "CKR_") {
			t.Errorf("%#x: detail %q", rv, ModuleDetail(err))
		}
		var e pkcs11.Error
		if !errors.As(err, &e) || uint(e) != rv {
			t.Errorf("%#x: code lost from the chain", rv)
		}
	}
	if !errors.Is(mapError(pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)), ErrCardRemoved) {
		t.Error("CKR_DEVICE_REMOVED is not ErrCardRemoved")
	}
}
