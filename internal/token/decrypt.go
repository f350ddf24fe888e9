package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"

	"github.com/miekg/pkcs11"
)

var oaepMechs = map[crypto.Hash]struct{ hash, mgf uint }{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// DecryptRSA decrypts a short secret (a content-encryption key) with the
// card's RSA key: PKCS #1 v1.5, or OAEP with oaepHash when it is set.
func (s *Session) DecryptRSA(k KeyInfo, ciphertext []byte, oaepHash crypto.Hash) ([]byte, error) {
	if _, ok := k.Public.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("rsa decryption with a %s key: %w", k.Algorithm, ErrUnsupported)
	}
	h, err := s.c.privateKey(k.ID)
	if err != nil {
		return nil, err
	}
	mech := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	if oaepHash != 0 {
		m, ok := oaepMechs[oaepHash]
		if !ok {
			return nil, fmt.Errorf("oaep with %v: %w", oaepHash, ErrUnsupported)
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(m.hash, m.mgf, pkcs11.CKZ_DATA_SPECIFIED, nil))
	}
	if err := s.c.p.DecryptInit(s.c.sh, []*pkcs11.Mechanism{mech}, h); err != nil {
		return nil, fmt.Errorf("decrypt on %s: %w", s.c.slot.serial(), mapError(err))
	}
	out, err := s.c.p.Decrypt(s.c.sh, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("decrypt on %s: %w", s.c.slot.serial(), mapError(err))
	}
	return out, nil
}

// ECDH derives the shared secret of the card's EC key and peer (an
// uncompressed point) with CKM_ECDH1_DERIVE. The secret is made as a
// session object only long enough to read it, then destroyed.
func (s *Session) ECDH(k KeyInfo, peer []byte) ([]byte, error) {
	pub, ok := k.Public.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ecdh with a %s key: %w", k.Algorithm, ErrUnsupported)
	}
	h, err := s.c.privateKey(k.ID)
	if err != nil {
		return nil, err
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	params := pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, peer)
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, size),
	}
	secret, err := s.c.p.DeriveKey(s.c.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDH1_DERIVE, params)}, h, tmpl)
	if err != nil {
		return nil, fmt.Errorf("ecdh on %s: %w", s.c.slot.serial(), mapError(err))
	}
	defer s.c.p.DestroyObject(s.c.sh, secret)
	a, err := s.c.attrs(secret, pkcs11.CKA_VALUE)
	if err != nil {
		return nil, fmt.Errorf("ecdh on %s: %w", s.c.slot.serial(), err)
	}
	return a[pkcs11.CKA_VALUE], nil
}
