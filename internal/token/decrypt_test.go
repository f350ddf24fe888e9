package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

// onCard runs fn logged in on a fresh SoftHSM2 token.
func onCard(t *testing.T, fn func(*Session) error) {
	t.Helper()
	tok := softhsmtest.New(t, "decrypt")
	m, err := Open(Options{Modules: []string{tok.Module}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	login := func(context.Context, LoginInfo) (string, error) { return softhsmtest.PIN, nil }
	if err := m.Do(context.Background(), "", login, fn); err != nil {
		t.Fatal(err)
	}
}

// TestDecryptRSA: PKCS #1 v1.5 and OAEP with every hash open on SoftHSM2,
// whose own OAEP knows only SHA-1 (the others go through CKM_RSA_X_509);
// a damaged content key is invalid input, whatever the module reports.
func TestDecryptRSA(t *testing.T) {
	onCard(t, func(s *Session) error {
		k, err := s.GenerateKey(KeyAlgorithms[0], "rsa", GenerateOptions{})
		if err != nil {
			return err
		}
		pub := k.Public.(*rsa.PublicKey)
		cek := bytes.Repeat([]byte{0x42}, 32)
		for _, h := range []crypto.Hash{0, crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			var ct []byte
			if h == 0 {
				//lint:ignore SA1019 the tests play the sender of PKCS #1 v1.5 key transport
				ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
			} else {
				ct, err = rsa.EncryptOAEP(h.New(), rand.Reader, pub, cek, nil)
			}
			if err != nil {
				return err
			}
			got, err := s.DecryptRSA(k, ct, h)
			if err != nil || !bytes.Equal(got, cek) {
				t.Errorf("oaep hash %v: %x, %v", h, got, err)
			}
			ct[len(ct)/2] ^= 1
			if got, err := s.DecryptRSA(k, ct, h); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("oaep hash %v, damaged: %x, %v", h, got, err)
			}
			if _, err := s.DecryptRSA(k, ct[1:], h); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("oaep hash %v, short: %v", h, err)
			}
		}
		return nil
	})
}

// TestECDH: the card's shared secret is the one Go computes, and a point
// off the curve is invalid input before the card sees it.
func TestECDH(t *testing.T) {
	onCard(t, func(s *Session) error {
		for _, alg := range KeyAlgorithms[3:] {
			k, err := s.GenerateKey(alg, alg.Name, GenerateOptions{})
			if err != nil {
				return err
			}
			peerPub, _ := k.Public.(*ecdsa.PublicKey).ECDH()
			eph, err := peerPub.Curve().GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			want, _ := eph.ECDH(peerPub)
			got, err := s.ECDH(k, eph.PublicKey().Bytes())
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %x, %v", alg.Name, got, err)
			}
			bad := eph.PublicKey().Bytes()
			bad[len(bad)-1] ^= 1
			if _, err := s.ECDH(k, bad); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%s, off the curve: %v", alg.Name, err)
			}
		}
		return nil
	})
}
