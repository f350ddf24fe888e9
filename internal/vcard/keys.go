package vcard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
)

// Algorithm identifiers (SP 800-78-4 table 6-2, Yubico's AES management keys).
const (
	alg3DES    = 0x03
	algRSA1024 = 0x06
	algRSA2048 = 0x07
	algAES128  = 0x08
	algAES192  = 0x0A
	algAES256  = 0x0C
	algP256    = 0x11
	algP384    = 0x14
)

// Yubico PIN and touch policies (GENERATE tags AA and AB).
const (
	pinDefault   = 0x00
	pinNever     = 0x01
	pinOnce      = 0x02
	pinAlways    = 0x03
	touchNever   = 0x01
	touchDefault = 0x00
)

var mgmtKeyLen = map[byte]int{alg3DES: 24, algAES128: 16, algAES192: 24, algAES256: 32}

// validSlot: 9A, 9C, 9D, 9E and the retired key management slots 82–95.
func validSlot(s byte) bool {
	return s == 0x9A || s == 0x9C || s == 0x9D || s == 0x9E || (s >= 0x82 && s <= 0x95)
}

func slotName(s byte) string { return fmt.Sprintf("%02x", s) }

// pinPolicy is the key's policy, or its slot's default: 9C "always", 9E
// "never", the others "once".
func (k *key) pinPolicy(slot byte) byte {
	if k.PINPolicy != pinDefault {
		return k.PINPolicy
	}
	switch slot {
	case 0x9C:
		return pinAlways
	case 0x9E:
		return pinNever
	}
	return pinOnce
}

func (k *key) touchPolicy() byte {
	if k.TouchPolicy == touchDefault {
		return touchNever
	}
	return k.TouchPolicy
}

func (k *key) private() (crypto.Signer, error) {
	p, err := x509.ParsePKCS8PrivateKey(k.PKCS8)
	if err != nil {
		return nil, err
	}
	s, ok := p.(crypto.Signer)
	if !ok {
		return nil, errors.New("vcard: key is no signer")
	}
	return s, nil
}

// publicTLVs is the public key as GENERATE returns it inside 7F49: 81 n and
// 82 e for RSA, 86 the uncompressed point for EC.
func (k *key) publicTLVs() ([]byte, error) {
	p, err := k.private()
	if err != nil {
		return nil, err
	}
	switch p := p.(type) {
	case *rsa.PrivateKey:
		return append(tlv1(0x81, p.N.Bytes()), tlv1(0x82, big.NewInt(int64(p.E)).Bytes())...), nil
	case *ecdsa.PrivateKey:
		pt, err := p.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		return tlv1(0x86, pt), nil
	}
	return nil, errors.New("vcard: unknown key type")
}

func newKey(alg byte) (crypto.Signer, error) {
	switch alg {
	case algRSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case algRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case algP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("vcard: algorithm %02x", alg)
}

// policies reads the optional AA (PIN) and AB (touch) policy tags.
func policies(m map[byte][]byte) (pin, touch byte, ok bool) {
	for tag, dst := range map[byte]*byte{0xAA: &pin, 0xAB: &touch} {
		if v, has := m[tag]; has {
			if len(v) != 1 || v[0] > 3 {
				return 0, 0, false
			}
			*dst = v[0]
		}
	}
	return pin, touch, true
}

// store puts a private key into a slot and saves the card.
func (a *applet) store(slot, alg byte, p crypto.Signer, pin, touch byte, imported bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(p)
	if err != nil {
		return err
	}
	a.st.Keys[slotName(slot)] = &key{Alg: alg, PINPolicy: pin, TouchPolicy: touch, Imported: imported, PKCS8: der}
	return nil
}

// generate is GENERATE ASYMMETRIC KEY PAIR: template AC with the algorithm
// (80) and the Yubico policies; the answer is the public key in 7F49.
func (a *applet) generate(c command) ([]byte, uint16) {
	if c.p1 != 0 || !validSlot(c.p2) {
		return nil, swWrongP1P2
	}
	if !a.mgmtOK {
		return nil, swSecurity
	}
	tmpl, err := unwrap(0xAC, c.data)
	if err != nil {
		return nil, swIncorrectData
	}
	m, err := parseTLVs(tmpl)
	if err != nil || len(m[0x80]) != 1 {
		return nil, swIncorrectData
	}
	pin, touch, ok := policies(m)
	if !ok {
		return nil, swIncorrectData
	}
	alg := m[0x80][0]
	gen := a.keygen
	if gen == nil {
		gen = newKey
	}
	p, err := gen(alg)
	if err != nil {
		return nil, swIncorrectData
	}
	if err := a.store(c.p2, alg, p, pin, touch, false); err != nil {
		return nil, swUnknown
	}
	pub, err := a.st.Keys[slotName(c.p2)].publicTLVs()
	if err != nil {
		return nil, swUnknown
	}
	return a.save(tlv([]byte{0x7F, 0x49}, pub), swOK)
}

// importKey is Yubico IMPORT KEY: P1 algorithm, P2 slot; RSA as 01 p, 02 q
// (03–05, the CRT values, are recomputed), EC as 06 the private scalar.
func (a *applet) importKey(c command) ([]byte, uint16) {
	if !validSlot(c.p2) {
		return nil, swWrongP1P2
	}
	if !a.mgmtOK {
		return nil, swSecurity
	}
	m, err := parseTLVs(c.data)
	if err != nil {
		return nil, swIncorrectData
	}
	pin, touch, ok := policies(m)
	if !ok {
		return nil, swIncorrectData
	}
	var p crypto.Signer
	switch c.p1 {
	case algRSA1024, algRSA2048:
		p, err = rsaFromPrimes(m[0x01], m[0x02], map[byte]int{algRSA1024: 1024, algRSA2048: 2048}[c.p1])
	case algP256:
		p, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), m[0x06])
	case algP384:
		p, err = ecdsa.ParseRawPrivateKey(elliptic.P384(), m[0x06])
	default:
		return nil, swWrongP1P2
	}
	if err != nil {
		return nil, swIncorrectData
	}
	if err := a.store(c.p2, c.p1, p, pin, touch, true); err != nil {
		return nil, swUnknown
	}
	return a.save(nil, swOK)
}

func rsaFromPrimes(pb, qb []byte, bits int) (*rsa.PrivateKey, error) {
	p, q := new(big.Int).SetBytes(pb), new(big.Int).SetBytes(qb)
	if p.BitLen() < 64 || q.BitLen() < 64 {
		return nil, errors.New("vcard: primes too small")
	}
	n := new(big.Int).Mul(p, q)
	if n.BitLen() != bits {
		return nil, errors.New("vcard: modulus size")
	}
	one := big.NewInt(1)
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	e := big.NewInt(65537)
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		return nil, errors.New("vcard: e not invertible")
	}
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	k.Precompute()
	return k, nil
}
