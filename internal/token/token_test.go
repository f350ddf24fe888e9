package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

func open(t *testing.T, opts Options, tok *softhsm.Token) *Manager {
	t.Helper()
	if opts.Modules == nil && tok != nil {
		opts.Modules = []string{tok.Module}
	}
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func pinFunc(pin string, calls *int) LoginFunc {
	return func(ctx context.Context, info LoginInfo) (string, error) {
		if calls != nil {
			*calls++
		}
		return pin, nil
	}
}

func hashOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

func verify(t *testing.T, pub crypto.PublicKey, alg SignAlgorithm, digest, sig []byte) {
	t.Helper()
	var err error
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if alg.PSS {
			err = rsa.VerifyPSS(pub, alg.Hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, alg.Hash, digest, sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			err = errors.New("ecdsa signature does not verify")
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", alg.Name, err)
	}
}

func TestGenerateAndSignEveryAlgorithm(t *testing.T) {
	tok := softhsmtest.New(t, "gen")
	m := open(t, Options{}, tok)
	readers := m.Readers()
	if len(readers) != 1 || readers[0].Card == nil || readers[0].Card.Serial != tok.Serial {
		t.Fatalf("readers = %+v, want one card %s (the spare slot is not a card)", readers, tok.Serial)
	}
	if got := readers[0].Card.Algorithms; len(got) != len(KeyAlgorithms) {
		t.Errorf("algorithms = %v", got)
	}
	ctx := context.Background()
	for _, ka := range KeyAlgorithms {
		t.Run(ka.Name, func(t *testing.T) {
			if testing.Short() && ka.Name == "RSA-4096" {
				t.Skip("slow")
			}
			var k KeyInfo
			err := m.Do(ctx, tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) (err error) {
				k, err = s.GenerateKey(ka, "test "+ka.Name, GenerateOptions{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != ka.Name || len(k.ID) != 20 {
				t.Fatalf("key = %s id %x", k.Algorithm, k.ID)
			}
			got, err := m.Key(ctx, tok.Serial, k.ID)
			if err != nil || got.Label != "test "+ka.Name {
				t.Fatalf("Key = %+v, %v", got, err)
			}
			for _, sa := range SignAlgorithms {
				if sa.RSA != ka.RSA {
					if err := CheckKeyFits(k, sa); !errors.Is(err, ErrUnsupported) {
						t.Errorf("%s with %s: %v", sa.Name, ka.Name, err)
					}
					continue
				}
				d1, d2 := hashOf(sa.Hash, []byte("one")), hashOf(sa.Hash, []byte("two"))
				var sigs [][]byte
				err := m.Do(ctx, tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) (err error) {
					sigs, err = s.Sign(k, sa, [][]byte{d1, d2})
					return err
				})
				if err != nil {
					t.Fatalf("%s: %v", sa.Name, err)
				}
				verify(t, k.Public, sa, d1, sigs[0])
				verify(t, k.Public, sa, d2, sigs[1])
			}
			// The crypto.Signer road, as x509 and CMS use it.
			signer := m.Signer(ctx, tok.Serial, k, pinFunc(tok.PIN, nil))
			d := hashOf(crypto.SHA256, []byte("signer"))
			var opts crypto.SignerOpts = crypto.SHA256
			sa, _ := ParseSignAlgorithm("ECDSA-SHA256")
			if ka.RSA {
				opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
				sa, _ = ParseSignAlgorithm("RSA-PSS-SHA256")
			}
			sig, err := signer.Sign(rand.Reader, d, opts)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, signer.Public(), sa, d, sig)
		})
	}
}

func TestPrivateKeyStaysOnCard(t *testing.T) {
	tok := softhsmtest.New(t, "attrs")
	m := open(t, Options{}, tok)
	ka, _ := ParseKeyAlgorithm("EC-P256")
	err := m.Do(context.Background(), "", pinFunc(tok.PIN, nil), func(s *Session) error {
		k, err := s.GenerateKey(ka, "k", GenerateOptions{})
		if err != nil {
			return err
		}
		h, err := s.c.privateKey(k.ID)
		if err != nil {
			return err
		}
		a, err := s.c.attrs(h, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE)
		if err != nil {
			return err
		}
		want := map[uint]byte{pkcs11.CKA_TOKEN: 1, pkcs11.CKA_PRIVATE: 1, pkcs11.CKA_SENSITIVE: 1, pkcs11.CKA_EXTRACTABLE: 0}
		for typ, v := range want {
			if len(a[typ]) != 1 || a[typ][0] != v {
				t.Errorf("attribute %#x = %v, want %d", typ, a[typ], v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func genKey(t *testing.T, m *Manager, tok *softhsm.Token, alg string) KeyInfo {
	t.Helper()
	ka, err := ParseKeyAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	var k KeyInfo
	err = m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) (err error) {
		k, err = s.GenerateKey(ka, "k", GenerateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWrongPINIsReportedNotRetried(t *testing.T) {
	tok := softhsmtest.New(t, "wrong")
	m := open(t, Options{}, tok)
	k := genKey(t, m, tok, "EC-P256")
	calls := 0
	sa, _ := ParseSignAlgorithm("ECDSA-SHA256")
	err := m.Do(context.Background(), tok.Serial, pinFunc("654321", &calls), func(s *Session) error {
		_, err := s.Sign(k, sa, [][]byte{hashOf(crypto.SHA256, nil)})
		return err
	})
	var pe *PINIncorrectError
	if !errors.As(err, &pe) || !pe.CountLow || pe.BadLength {
		t.Fatalf("err = %v (%+v), want a PIN error with count low", err, pe)
	}
	if calls != 1 {
		t.Fatalf("PIN asked %d times, want 1", calls)
	}
	if st := m.Readers()[0].Card.PIN; !st.CountLow {
		t.Errorf("pin state after a wrong try = %+v", st)
	}
}

func TestPINOfWrongLengthNeverReachesCard(t *testing.T) {
	tok := softhsmtest.New(t, "len")
	logins := 0
	m := open(t, Options{LoginFault: func(string) uint { logins++; return 0 }}, tok)
	for _, pin := range []string{"12", string(make([]byte, 300))} {
		err := m.Do(context.Background(), tok.Serial, pinFunc(pin, nil), func(*Session) error { return nil })
		var pe *PINIncorrectError
		if !errors.As(err, &pe) || !pe.BadLength || pe.Min != 4 || pe.Max != 255 {
			t.Fatalf("err = %v", err)
		}
	}
	if logins != 0 {
		t.Fatalf("C_Login called %d times", logins)
	}
	if st := m.Readers()[0].Card.PIN; st.CountLow {
		t.Errorf("a try was used: %+v", st)
	}
}

func TestLockedPIN(t *testing.T) {
	// SoftHSM2 never locks a PIN, so the lock comes from the fault seam.
	tok := softhsmtest.New(t, "locked")
	m := open(t, Options{LoginFault: func(string) uint { return CKRPINLocked }}, tok)
	err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(*Session) error { return nil })
	if !errors.Is(err, ErrPINLocked) {
		t.Fatalf("err = %v, want ErrPINLocked", err)
	}
}

func TestCancelledPINPrompt(t *testing.T) {
	tok := softhsmtest.New(t, "cancel")
	m := open(t, Options{}, tok)
	sentinel := errors.New("user said no")
	err := m.Do(context.Background(), tok.Serial, func(context.Context, LoginInfo) (string, error) { return "", sentinel }, func(*Session) error {
		t.Fatal("ran after a cancelled prompt")
		return nil
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v", err)
	}
}

func TestCardRemovedAndReinserted(t *testing.T) {
	tok := softhsmtest.New(t, "removable")
	m := open(t, Options{}, tok)
	k := genKey(t, m, tok, "EC-P256")
	if err := softhsm.Delete(tok.Conf, tok.Serial); err != nil {
		t.Fatal(err)
	}
	sa, _ := ParseSignAlgorithm("ECDSA-SHA256")
	err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		_, err := s.Sign(k, sa, [][]byte{hashOf(crypto.SHA256, nil)})
		return err
	})
	if !errors.Is(err, ErrCardRemoved) && !errors.Is(err, ErrCardNotPresent) {
		t.Fatalf("sign on a removed card: %v", err)
	}
	// A new card in the same reader is found without restarting.
	tok2, err := softhsm.Create(filepath.Dir(tok.Conf), "second", softhsmtest.PIN, softhsmtest.SOPIN)
	if err != nil {
		t.Fatal(err)
	}
	// Re-initialisation is rate-limited (reinitEvery), so the new token
	// may take up to a second to show.
	waitCard(t, m, tok2.Serial)
	k2 := genKey(t, m, tok2, "EC-P256")
	if _, err := m.Key(context.Background(), tok2.Serial, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keys(context.Background(), tok.Serial); !errors.Is(err, ErrCardNotPresent) {
		t.Fatalf("old card: %v", err)
	}
}

func TestSessionClosedUnderneath(t *testing.T) {
	tok := softhsmtest.New(t, "closed")
	m := open(t, Options{}, tok)
	k := genKey(t, m, tok, "EC-P256")
	sa, _ := ParseSignAlgorithm("ECDSA-SHA256")
	err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		// Another application (or a reader reset) closes every session.
		s.c.p.CloseAllSessions(s.c.slot.id)
		_, err := s.Sign(k, sa, [][]byte{hashOf(crypto.SHA256, nil)})
		return err
	})
	if !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("err = %v, want ErrCardRemoved", err)
	}
	// The next operation opens a fresh session and works.
	err = m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		_, err := s.Sign(k, sa, [][]byte{hashOf(crypto.SHA256, nil)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTwoModulesAtOnce(t *testing.T) {
	tokA := softhsmtest.New(t, "module-a")
	m := open(t, Options{}, tokA)
	// A copy of the library is a second module with state of its own. It
	// reads SOFTHSM2_CONF when it is initialised, so it sees other tokens.
	copyPath := filepath.Join(t.TempDir(), "libsofthsm2-copy.so")
	copyFile(t, tokA.Module, copyPath)
	tokB, err := softhsm.Create(t.TempDir(), "module-b", softhsmtest.PIN, softhsmtest.SOPIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tokB.Conf)
	if err := m.AddModule(copyPath); err != nil {
		t.Fatal(err)
	}
	serials := map[string]string{}
	for _, r := range m.Readers() {
		if r.Card != nil {
			serials[r.Card.Serial] = r.Module
		}
	}
	if serials[tokA.Serial] != filepath.Base(tokA.Module) || serials[tokB.Serial] != "libsofthsm2-copy.so" {
		t.Fatalf("cards = %v", serials)
	}
	ka := genKey(t, m, tokA, "EC-P256")
	kb := genKey(t, m, tokB, "RSA-2048")
	if _, err := m.Key(context.Background(), tokB.Serial, ka.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key of card A found on card B: %v", err)
	}
	if _, err := m.Key(context.Background(), tokB.Serial, kb.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Do(context.Background(), "", nil, func(*Session) error { return nil }); !errors.Is(err, ErrAmbiguousCard) {
		t.Fatalf("no serial with two cards: %v", err)
	}
}

func waitCard(t *testing.T, m *Manager, serial string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := m.find(serial)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("card %s did not show: %v", serial, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

func TestKeyListFollowsWrites(t *testing.T) {
	tok := softhsmtest.New(t, "cache")
	m := open(t, Options{}, tok)
	ctx := context.Background()
	if keys, _ := m.Keys(ctx, tok.Serial); len(keys) != 0 {
		t.Fatal("fresh card has keys")
	}
	k := genKey(t, m, tok, "EC-P256")
	keys, err := m.Keys(ctx, tok.Serial)
	if err != nil || len(keys) != 1 || string(keys[0].ID) != string(k.ID) {
		t.Fatalf("after generate: %v %v", keys, err)
	}
	m.Do(ctx, tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error { return s.DeleteKey(k.ID) })
	if keys, _ := m.Keys(ctx, tok.Serial); len(keys) != 0 {
		t.Fatal("deleted key still listed")
	}
}

// TestSignKeepsKeyList checks that a login and a signature leave the
// reused key list in place (they change no object) while the token info
// is read again, and that many pages reading at once after a write see
// the new list.
func TestSignKeepsKeyList(t *testing.T) {
	tok := softhsmtest.New(t, "cache")
	m := open(t, Options{}, tok)
	ctx := context.Background()
	k := genKey(t, m, tok, "EC-P256")
	before, err := m.Keys(ctx, tok.Serial)
	if err != nil || len(before) != 1 {
		t.Fatalf("keys: %v %v", before, err)
	}
	alg, _ := ParseSignAlgorithm("ECDSA-SHA256")
	digest := make([]byte, 32)
	if err := m.Do(ctx, tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		_, err := s.Sign(k, alg, [][]byte{digest})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	after, err := m.Keys(ctx, tok.Serial)
	if err != nil || len(after) != 1 || &after[0] != &before[0] {
		t.Fatal("a signature dropped the key list")
	}
	// A write drops it; 32 readers at once all see the new key.
	k2 := genKey(t, m, tok, "EC-P256")
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			keys, err := m.Keys(ctx, tok.Serial)
			if err != nil || len(keys) != 2 {
				t.Errorf("after a write: %d keys, %v", len(keys), err)
			}
			if rs := m.Readers(); len(rs) != 1 || rs[0].Card == nil {
				t.Errorf("readers: %+v", rs)
			}
		})
	}
	wg.Wait()
	if keys, _ := m.Keys(ctx, tok.Serial); string(keys[1].ID) != string(k2.ID) && string(keys[0].ID) != string(k2.ID) {
		t.Error("the new key is not listed")
	}
}

// TestDoTiming: Do says how long the PIN, the login and the card work
// took, and nothing of a PIN for work that asked for none.
func TestDoTiming(t *testing.T) {
	tok := softhsmtest.New(t, "timing")
	m := open(t, Options{}, tok)
	k := genKey(t, m, tok, "EC-P256")
	alg, _ := ParseSignAlgorithm("ECDSA-SHA256")
	var tm Timing
	ctx := WithTiming(context.Background(), &tm)
	if err := m.Do(ctx, tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
		_, err := s.Sign(k, alg, [][]byte{make([]byte, 32)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if tm.PIN() <= 0 || tm.Login() <= 0 || tm.Card() <= 0 {
		t.Fatalf("after a signature: pin %v, login %v, card %v", tm.PIN(), tm.Login(), tm.Card())
	}
	var plain Timing
	if err := m.Do(WithTiming(context.Background(), &plain), tok.Serial, nil, func(s *Session) error {
		_, err := s.Keys()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if plain.PIN() != 0 || plain.Login() != 0 || plain.Card() <= 0 {
		t.Fatalf("without a PIN: pin %v, login %v, card %v", plain.PIN(), plain.Login(), plain.Card())
	}
}
