package token

import (
	"bytes"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"testing"
)

// A P-521 point wrapped in DER, in tpm2-pkcs11's short-form length 0x85,
// and bare all come out as the bare point; a length byte that does not fit
// what follows is left alone for the parser to refuse.
func TestUnwrapECPointP521(t *testing.T) {
	k, err := ecdh.P521().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point := k.PublicKey().Bytes()
	der, _ := asn1.Marshal(point)
	tpm := append([]byte{0x04, 0x85}, point...)
	short := append([]byte{0x04, 0x85}, point[:len(point)-1]...)
	for name, in := range map[string][]byte{"der": der, "tpm2-pkcs11": tpm, "bare": point} {
		if got := unwrapECPoint(in, elliptic.P521()); !bytes.Equal(got, point) {
			t.Errorf("%s: got %x", name, got[:4])
		}
	}
	if got := unwrapECPoint(short, elliptic.P521()); !bytes.Equal(got, short) {
		t.Errorf("a truncated point was unwrapped")
	}
}
