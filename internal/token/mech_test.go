package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"github.com/miekg/pkcs11"
	"math/big"
	"testing"
)

func TestDigestInfoMatchesGo(t *testing.T) {
	// Go's rsa.SignPKCS1v15 builds the same DigestInfo; a signature made
	// with our prefix over CKM_RSA_PKCS-style raw signing must verify.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := make([]byte, h.Size())
		alg := SignAlgorithm{Name: "t", RSA: true, Hash: h}
		_, in, err := signInput(alg, d, 0)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.Hash(0), in) // raw: signs "in" as given
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, h, d, sig); err != nil {
			t.Errorf("%v: %v", h, err)
		}
	}
}

func TestSignInputRejectsWrongDigestLength(t *testing.T) {
	for _, a := range SignAlgorithms {
		for _, n := range []int{0, 20, a.Hash.Size() - 1, a.Hash.Size() + 1} {
			if _, _, err := signInput(a, make([]byte, n), 0); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%s with %d bytes: %v", a.Name, n, err)
			}
		}
	}
}

func TestECDSADER(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		r, s int64
		ok   bool
	}{
		{"simple", []byte{0, 1, 0, 2}, 1, 2, true},
		{"high bit gets a zero byte", []byte{0x80, 0xff}, 0x80, 0xff, true},
		{"odd", []byte{1, 2, 3}, 0, 0, false},
		{"empty", nil, 0, 0, false},
	}
	for _, tt := range tests {
		der, err := ecdsaDER(tt.raw)
		if (err == nil) != tt.ok {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		if !tt.ok {
			continue
		}
		var got struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &got); err != nil || got.R.Int64() != tt.r || got.S.Int64() != tt.s {
			t.Errorf("%s: %x -> %+v %v", tt.name, der, got, err)
		}
	}
	// And a real signature: r‖s from Go's signer, verified after conversion.
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	d := make([]byte, 48)
	r, s, _ := ecdsa.Sign(rand.Reader, k, d)
	raw := append(r.FillBytes(make([]byte, 48)), s.FillBytes(make([]byte, 48))...)
	der, _ := ecdsaDER(raw)
	if !ecdsa.VerifyASN1(&k.PublicKey, d, der) {
		t.Error("converted signature does not verify")
	}
}

// TestECDSADERMatchesEncodingASN1 checks the hand-written encoder byte for
// byte against encoding/asn1 for every curve size, including values with
// leading zero bytes, zero, and the top bit set.
func TestECDSADERMatchesEncodingASN1(t *testing.T) {
	for _, n := range []int{1, 32, 48, 66} {
		for i := 0; i < 2000; i++ {
			raw := make([]byte, 2*n)
			rand.Read(raw)
			switch i % 5 {
			case 1:
				clear(raw[:min(n, 3)]) // r with leading zero bytes
			case 2:
				clear(raw[n:]) // s = 0
			case 3:
				raw[0], raw[n] = 0x80, 0xff // top bits set
			case 4:
				raw[0], raw[n] = 0, 0x7f
			}
			got, err := ecdsaDER(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
			if !bytes.Equal(got, want) {
				t.Fatalf("%x: got %x, want %x", raw, got, want)
			}
		}
	}
	if _, err := ecdsaDER(make([]byte, 2*67)); err == nil {
		t.Error("a 134-byte signature was accepted")
	}
}

func TestUnwrapECPoint(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := k.PublicKey.Bytes()
	wrapped, _ := asn1.Marshal(point)
	for name, in := range map[string][]byte{"bare": point, "octet string": wrapped} {
		if got := unwrapECPoint(in, elliptic.P256()); string(got) != string(point) {
			t.Errorf("%s: %x", name, got)
		}
	}
}

func TestFitsKeySize(t *testing.T) {
	tests := []struct {
		min, max uint
		bits     int
		want     bool
	}{
		{512, 16384, 2048, true},
		{512, 2048, 4096, false},
		{112, 521, 521, true},
		{32, 66, 521, true}, // bytes
		{0, 0, 4096, true},  // unknown: let the card decide
	}
	for _, tt := range tests {
		mi := struct{ MinKeySize, MaxKeySize, Flags uint }{tt.min, tt.max, 0}
		if got := fitsKeySize(mechInfo(mi), tt.bits); got != tt.want {
			t.Errorf("%d..%d fits %d = %v", tt.min, tt.max, tt.bits, got)
		}
	}
}

func mechInfo(v struct{ MinKeySize, MaxKeySize, Flags uint }) (mi mechanismInfo) {
	mi.MinKeySize, mi.MaxKeySize, mi.Flags = v.MinKeySize, v.MaxKeySize, v.Flags
	return mi
}

type mechanismInfo = pkcs11.MechanismInfo
