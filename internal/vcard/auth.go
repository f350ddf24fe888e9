package vcard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"math/big"
)

// generalAuth is GENERAL AUTHENTICATE (template 7C): P2 9B authenticates the
// management key, any key slot signs, decrypts (81) or derives (85).
func (a *applet) generalAuth(c command) ([]byte, uint16) {
	tmpl, err := unwrap(0x7C, c.data)
	if err != nil {
		return nil, swIncorrectData
	}
	m, err := parseTLVs(tmpl)
	if err != nil {
		return nil, swIncorrectData
	}
	if c.p2 == 0x9B {
		return a.mgmtAuth(c.p1, m)
	}
	if !validSlot(c.p2) {
		return nil, swWrongP1P2
	}
	k, ok := a.st.Keys[slotName(c.p2)]
	if !ok {
		return nil, swRefNotFound
	}
	if k.Alg != c.p1 {
		return nil, swIncorrectData
	}
	resp, present := m[0x82]
	if !present || len(resp) != 0 {
		return nil, swIncorrectData
	}
	in, isPoint := m[0x85]
	if !isPoint {
		if in, ok = m[0x81]; !ok {
			return nil, swIncorrectData
		}
	}
	if st := a.usePIN(k, c.p2); st != swOK {
		return nil, st
	}
	p, err := k.private()
	if err != nil {
		return nil, swUnknown
	}
	var out []byte
	switch p := p.(type) {
	case *rsa.PrivateKey:
		if isPoint {
			return nil, swIncorrectData
		}
		out, ok = rawRSA(p, in)
	case *ecdsa.PrivateKey:
		if isPoint {
			out, ok = ecdh(p, in)
		} else {
			out, err = ecdsa.SignASN1(rand.Reader, p, in)
			ok = err == nil && len(in) > 0 && len(in) <= 64
		}
	}
	if !ok {
		return nil, swIncorrectData
	}
	return tlv1(0x7C, tlv1(0x82, out)), swOK
}

// usePIN applies the key's PIN policy; "always" needs a VERIFY right before
// each use and consumes it.
func (a *applet) usePIN(k *key, slot byte) uint16 {
	switch k.pinPolicy(slot) {
	case pinNever:
		return swOK
	case pinAlways:
		if !a.pinFresh {
			return swSecurity
		}
		a.pinFresh = false
		return swOK
	}
	if !a.pinOK {
		return swSecurity
	}
	return swOK
}

// rawRSA is the private-key operation on a whole block: PIV cards neither pad
// nor unpad, the caller does (PKCS#1 signing blocks, decryption).
func rawRSA(p *rsa.PrivateKey, in []byte) ([]byte, bool) {
	size := p.Size()
	c := new(big.Int).SetBytes(in)
	if len(in) != size || c.Cmp(p.N) >= 0 {
		return nil, false
	}
	// CRT: m1 = c^dP mod p, m2 = c^dQ mod q, m = m2 + q·(qInv·(m1−m2) mod p).
	pr, q := p.Primes[0], p.Primes[1]
	m1 := new(big.Int).Exp(c, p.Precomputed.Dp, pr)
	m2 := new(big.Int).Exp(c, p.Precomputed.Dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, p.Precomputed.Qinv).Mod(h, pr)
	m := h.Mul(h, q).Add(h, m2)
	return m.FillBytes(make([]byte, size)), true
}

// ecdh returns the X coordinate of the shared point with the peer's
// uncompressed public point.
func ecdh(p *ecdsa.PrivateKey, point []byte) ([]byte, bool) {
	priv, err := p.ECDH()
	if err != nil {
		return nil, false
	}
	peer, err := priv.Curve().NewPublicKey(point)
	if err != nil {
		return nil, false
	}
	out, err := priv.ECDH(peer)
	return out, err == nil
}

// mgmtAuth runs both ways to authenticate the management key: mutual (80
// empty → witness; 80 decrypted witness + 81 challenge → 82 response) and
// external (81 empty → challenge; 82 encrypted challenge).
func (a *applet) mgmtAuth(alg byte, m map[byte][]byte) ([]byte, uint16) {
	block, err := a.mgmtCipher(alg)
	witness, hasWitness := m[0x80]
	chal, hasChal := m[0x81]
	resp, hasResp := m[0x82]
	switch {
	case hasChal && len(chal) == 0 && !hasWitness:
		// A challenge for external authentication; OpenSC also takes it as
		// random bytes, with whatever algorithm it names.
		size := 8
		if block != nil {
			size = block.BlockSize()
		}
		a.chal = randomBytes(size)
		if err != nil {
			a.chal = nil
		}
		return tlv1(0x7C, tlv1(0x81, append([]byte{}, a.chal...))), swOK
	case err != nil:
		return nil, swWrongP1P2
	case hasWitness && len(witness) == 0:
		a.witness = randomBytes(block.BlockSize())
		enc := make([]byte, block.BlockSize())
		block.Encrypt(enc, a.witness)
		a.mgmtOK = false
		return tlv1(0x7C, tlv1(0x80, enc)), swOK
	case hasWitness && hasChal:
		want := a.witness
		a.witness = nil
		if want == nil || len(chal) != block.BlockSize() || subtle.ConstantTimeCompare(witness, want) != 1 {
			return nil, swSecurity
		}
		a.mgmtOK = true
		enc := make([]byte, block.BlockSize())
		block.Encrypt(enc, chal)
		return tlv1(0x7C, tlv1(0x82, enc)), swOK
	case hasResp && len(resp) > 0:
		want := a.chal
		a.chal = nil
		if want == nil || len(resp) != block.BlockSize() {
			return nil, swSecurity
		}
		enc := make([]byte, block.BlockSize())
		block.Encrypt(enc, want)
		if subtle.ConstantTimeCompare(enc, resp) != 1 {
			return nil, swSecurity
		}
		a.mgmtOK = true
		return nil, swOK
	}
	return nil, swIncorrectData
}

func (a *applet) mgmtCipher(alg byte) (cipher.Block, error) {
	if alg != a.st.MgmtAlg {
		return nil, errAlg
	}
	if alg == alg3DES {
		return des.NewTripleDESCipher(a.st.MgmtKey)
	}
	return aes.NewCipher(a.st.MgmtKey)
}

var errAlg = errors.New("vcard: not the management key's algorithm")

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
