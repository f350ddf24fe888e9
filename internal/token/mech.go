package token

import (
	"crypto"
	"crypto/elliptic"
	"crypto/subtle"
	"encoding/asn1"
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"
)

// KeyAlgorithm is a kind of key pair a card can generate.
type KeyAlgorithm struct {
	Name  string // wire name, e.g. "RSA-2048"
	RSA   bool
	Bits  int
	Curve elliptic.Curve // nil for RSA
	oid   asn1.ObjectIdentifier
}

// KeyAlgorithms are the key types cardbridge generates, in display order.
var KeyAlgorithms = []KeyAlgorithm{
	{Name: "RSA-2048", RSA: true, Bits: 2048},
	{Name: "RSA-3072", RSA: true, Bits: 3072},
	{Name: "RSA-4096", RSA: true, Bits: 4096},
	{Name: "EC-P256", Bits: 256, Curve: elliptic.P256(), oid: asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}},
	{Name: "EC-P384", Bits: 384, Curve: elliptic.P384(), oid: asn1.ObjectIdentifier{1, 3, 132, 0, 34}},
	{Name: "EC-P521", Bits: 521, Curve: elliptic.P521(), oid: asn1.ObjectIdentifier{1, 3, 132, 0, 35}},
}

// ParseKeyAlgorithm looks up a key algorithm by its wire name.
func ParseKeyAlgorithm(name string) (KeyAlgorithm, error) {
	for _, a := range KeyAlgorithms {
		if a.Name == name {
			return a, nil
		}
	}
	return KeyAlgorithm{}, fmt.Errorf("key algorithm %q: %w", name, ErrUnsupported)
}

func curveByOID(oid asn1.ObjectIdentifier) (KeyAlgorithm, bool) {
	for _, a := range KeyAlgorithms {
		if a.Curve != nil && a.oid.Equal(oid) {
			return a, true
		}
	}
	return KeyAlgorithm{}, false
}

// SignAlgorithm is a signature scheme on the wire: the key type, the hash
// and, for RSA, the padding.
type SignAlgorithm struct {
	Name string
	RSA  bool
	PSS  bool
	Hash crypto.Hash
}

// SignAlgorithms are the schemes cardbridge signs with.
var SignAlgorithms = []SignAlgorithm{
	{"RSA-PKCS1-SHA256", true, false, crypto.SHA256},
	{"RSA-PKCS1-SHA384", true, false, crypto.SHA384},
	{"RSA-PKCS1-SHA512", true, false, crypto.SHA512},
	{"RSA-PSS-SHA256", true, true, crypto.SHA256},
	{"RSA-PSS-SHA384", true, true, crypto.SHA384},
	{"RSA-PSS-SHA512", true, true, crypto.SHA512},
	{"ECDSA-SHA256", false, false, crypto.SHA256},
	{"ECDSA-SHA384", false, false, crypto.SHA384},
	{"ECDSA-SHA512", false, false, crypto.SHA512},
}

// ParseSignAlgorithm looks up a signature scheme by its wire name.
func ParseSignAlgorithm(name string) (SignAlgorithm, error) {
	for _, a := range SignAlgorithms {
		if a.Name == name {
			return a, nil
		}
	}
	return SignAlgorithm{}, fmt.Errorf("signature algorithm %q: %w", name, ErrUnsupported)
}

// digestInfoPrefix is the DER of a DigestInfo up to the digest itself
// (RFC 8017, section 9.2, note 1). CKM_RSA_PKCS signs what we give it, so we
// build the DigestInfo ourselves and the card needs no hash mechanisms.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var mgfForHash = map[crypto.Hash]uint{
	crypto.SHA256: pkcs11.CKG_MGF1_SHA256,
	crypto.SHA384: pkcs11.CKG_MGF1_SHA384,
	crypto.SHA512: pkcs11.CKG_MGF1_SHA512,
}

var ckmForHash = map[crypto.Hash]uint{
	crypto.SHA256: pkcs11.CKM_SHA256,
	crypto.SHA384: pkcs11.CKM_SHA384,
	crypto.SHA512: pkcs11.CKM_SHA512,
}

// signInput chooses the mechanism for alg and builds what the card signs
// from digest. saltLen applies to PSS only; 0 means the hash length.
func signInput(alg SignAlgorithm, digest []byte, saltLen int) (*pkcs11.Mechanism, []byte, error) {
	if len(digest) != alg.Hash.Size() {
		return nil, nil, fmt.Errorf("digest is %d bytes, %s needs %d: %w", len(digest), alg.Name, alg.Hash.Size(), ErrInvalidInput)
	}
	switch {
	case !alg.RSA:
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, nil
	case alg.PSS:
		if saltLen == 0 {
			saltLen = alg.Hash.Size()
		}
		params := pkcs11.NewPSSParams(ckmForHash[alg.Hash], mgfForHash[alg.Hash], uint(saltLen))
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, nil
	}
	prefix := digestInfoPrefix[alg.Hash]
	in := make([]byte, 0, len(prefix)+len(digest))
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), append(append(in, prefix...), digest...), nil
}

// ecdsaDER turns the r‖s that PKCS#11 returns into the DER SEQUENCE that
// X.509, CMS and Go's ecdsa.VerifyASN1 expect. It is written out by hand:
// through encoding/asn1 and math/big it was 5 % of a batch's CPU.
func ecdsaDER(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 2*66 {
		return nil, fmt.Errorf("ecdsa signature of bad length %d", len(sig))
	}
	n := len(sig) / 2
	r, s := derUint(sig[:n]), derUint(sig[n:])
	body := 2 + len(r) + 2 + len(s) // P-521 at most 2·(2+67) = 138
	out := make([]byte, 0, 3+body)
	out = append(out, 0x30)
	if body >= 0x80 {
		out = append(out, 0x81)
	}
	out = append(out, byte(body), 0x02, byte(len(r)))
	out = append(out, r...)
	out = append(out, 0x02, byte(len(s)))
	return append(out, s...), nil
}

// derUint returns the content octets of a DER INTEGER holding the
// unsigned big-endian b: no redundant leading zeros, and a zero byte in
// front when the top bit is set.
func derUint(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

// unwrapECPoint strips the DER OCTET STRING that PKCS#11 v2.20+ modules put
// around CKA_EC_POINT; older modules send the bare point.
func unwrapECPoint(v []byte, curve elliptic.Curve) []byte {
	want := 1 + 2*((curve.Params().BitSize+7)/8)
	if len(v) == want && v[0] == 0x04 {
		return v
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 {
		return inner
	}
	// tpm2-pkcs11 writes a P-521 point's OCTET STRING length 133 as the
	// single byte 0x85, which DER reads as "five length bytes follow".
	// When that byte is exactly the length of the uncompressed point that
	// follows, there is only one reading.
	if want > 127 && want < 256 && len(v) == 2+want && v[0] == 0x04 && int(v[1]) == want && v[2] == 0x04 {
		return v[2:]
	}
	return v
}

// oaepUnpad removes RSAES-OAEP padding with an empty label (RFC 8017,
// section 7.1.2, step 3) from em, the raw RSA output of a k-byte modulus.
// It runs in time that depends only on k and the hash, never on where or
// whether the padding is wrong, so that a caller timing it learns nothing
// (Manger's attack); only the final ok is a branch.
func oaepUnpad(hash crypto.Hash, em []byte, k int) (out []byte, ok bool) {
	hLen := hash.Size()
	if !hash.Available() || k < 2*hLen+2 || len(em) > k {
		return nil, false
	}
	// Modules may drop leading zero bytes of the raw result.
	full := make([]byte, k)
	copy(full[k-len(em):], em)
	y, maskedSeed, maskedDB := full[0], full[1:1+hLen], full[1+hLen:]

	seed := make([]byte, hLen)
	copy(seed, maskedSeed)
	mgf1XOR(seed, hash, maskedDB)
	db := make([]byte, len(maskedDB))
	copy(db, maskedDB)
	mgf1XOR(db, hash, seed)

	lHash := hash.New().Sum(nil)
	good := subtle.ConstantTimeByteEq(y, 0) & subtle.ConstantTimeCompare(db[:hLen], lHash)

	// PS is zero bytes, then 0x01, then the message. Walk all of it.
	rest := db[hLen:]
	looking, index, invalid := 1, 0, 0
	for i, b := range rest {
		zero, one := subtle.ConstantTimeByteEq(b, 0), subtle.ConstantTimeByteEq(b, 1)
		index = subtle.ConstantTimeSelect(looking&one, i, index)
		looking = subtle.ConstantTimeSelect(one, 0, looking)
		invalid = subtle.ConstantTimeSelect(looking&^zero&1, 1, invalid)
	}
	if good&^invalid&^looking&1 != 1 {
		return nil, false
	}
	return rest[index+1:], true
}

// mgf1XOR xors out with MGF1(seed) over hash (RFC 8017, appendix B.2.1).
func mgf1XOR(out []byte, hash crypto.Hash, seed []byte) {
	var counter [4]byte
	done := 0
	for done < len(out) {
		d := hash.New()
		d.Write(seed)
		d.Write(counter[:])
		block := d.Sum(nil)
		for i := 0; i < len(block) && done < len(out); i++ {
			out[done] ^= block[i]
			done++
		}
		binary.BigEndian.PutUint32(counter[:], binary.BigEndian.Uint32(counter[:])+1)
	}
}
