package token

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
)

// rawRSA is what CKM_RSA_X_509 returns: c^d mod n, without leading zeros.
func rawRSA(k *rsa.PrivateKey, c []byte) []byte {
	return new(big.Int).Exp(new(big.Int).SetBytes(c), k.D, k.N).Bytes()
}

func TestOAEPUnpad(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		for _, msg := range [][]byte{{}, []byte("0123456789abcdef0123456789abcdef"), bytes.Repeat([]byte{0}, 16)} {
			c, err := rsa.EncryptOAEP(h.New(), rand.Reader, &key.PublicKey, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := oaepUnpad(h, rawRSA(key, c), key.Size())
			if !ok || !bytes.Equal(got, msg) {
				t.Fatalf("%v: unpad(%x) = %x, %v", h, msg, got, ok)
			}
		}
	}
	c, _ := rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, &key.PublicKey, []byte("content key"), nil)
	em := rawRSA(key, c)
	for name, bad := range map[string]func() ([]byte, crypto.Hash){
		"wrong hash": func() ([]byte, crypto.Hash) { return em, crypto.SHA1 },
		"damaged":    func() ([]byte, crypto.Hash) { e := bytes.Clone(em); e[40] ^= 1; return e, crypto.SHA256 },
		"damaged db": func() ([]byte, crypto.Hash) { e := bytes.Clone(em); e[len(e)-1] ^= 1; return e, crypto.SHA256 },
		"pkcs1 v1.5": func() ([]byte, crypto.Hash) {
			//lint:ignore SA1019 the tests play the sender of PKCS #1 v1.5 key transport
			p, _ := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte("k"))
			return rawRSA(key, p), crypto.SHA256
		},
		"too long":      func() ([]byte, crypto.Hash) { return append([]byte{1}, make([]byte, key.Size())...), crypto.SHA256 },
		"short modulus": func() ([]byte, crypto.Hash) { return em[:100], crypto.SHA512 },
	} {
		e, h := bad()
		k := key.Size()
		if name == "short modulus" {
			k = 100
		}
		if out, ok := oaepUnpad(h, e, k); ok {
			t.Errorf("%s: accepted, gave %x", name, out)
		}
	}
}
