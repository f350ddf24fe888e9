package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // OAEP hashes that oaepUnpad may need
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

var oaepMechs = map[crypto.Hash]struct{ hash, mgf uint }{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// errKeyDecrypt is what every refused content key turns into: one text
// for every cause (bad padding, wrong key, damaged data), whichever code
// the module chose for it, and nothing about which it was.
func errKeyDecrypt(serial string) error {
	return fmt.Errorf("the content key does not decrypt with this key on %s; the message is damaged or was not encrypted for it: %w", serial, ErrInvalidInput)
}

// DecryptRSA decrypts a short secret (a content-encryption key) with the
// card's RSA key: PKCS #1 v1.5, or OAEP with oaepHash when it is set.
//
// Many modules do OAEP with SHA-1 only (SoftHSM2 2.6 among them). When the
// card refuses OAEP with oaepHash but offers raw RSA (CKM_RSA_X_509), the
// padding is removed here in constant time, as OpenSC does for cards.
func (s *Session) DecryptRSA(k KeyInfo, ciphertext []byte, oaepHash crypto.Hash) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return guard(s.c, func() ([]byte, error) { return s.decryptRSA(k, ciphertext, oaepHash) })
}

func (s *Session) decryptRSA(k KeyInfo, ciphertext []byte, oaepHash crypto.Hash) ([]byte, error) {
	pub, ok := k.Public.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("rsa decryption with a %s key: %w", k.Algorithm, ErrUnsupported)
	}
	serial := s.c.slot.serial()
	if len(ciphertext) != pub.Size() {
		// The card would refuse it too, each kind in its own words.
		return nil, errKeyDecrypt(serial)
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
		err = mapError(err)
		if oaepHash == 0 || !(errors.Is(err, ErrUnsupported) || errors.Is(err, ErrInvalidInput)) || !s.canDecrypt(pkcs11.CKM_RSA_X_509) {
			return nil, fmt.Errorf("decrypt on %s: %w", serial, err)
		}
		return s.decryptOAEPInSoftware(h, pub, ciphertext, oaepHash)
	}
	out, err := s.c.p.Decrypt(s.c.sh, ciphertext)
	if err != nil {
		return nil, decryptError(serial, err)
	}
	return out, nil
}

// decryptError keeps the errors that say something about the card (gone,
// locked, not logged in) and turns the rest into errKeyDecrypt: modules
// report a bad block with whatever code they like, CKR_GENERAL_ERROR too.
func decryptError(serial string, err error) error {
	err = mapError(err)
	var pinErr *PINIncorrectError
	for _, keep := range []error{ErrCardRemoved, ErrPINLocked, ErrCancelled, ErrNotFound} {
		if errors.Is(err, keep) {
			return fmt.Errorf("decrypt on %s: %w", serial, err)
		}
	}
	if errors.As(err, &pinErr) {
		return fmt.Errorf("decrypt on %s: %w", serial, err)
	}
	return errKeyDecrypt(serial)
}

// canDecrypt reports whether the card offers mech for decryption.
func (s *Session) canDecrypt(mech uint) bool {
	mi, err := s.c.p.GetMechanismInfo(s.c.slot.id, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)})
	return err == nil && mi.Flags&pkcs11.CKF_DECRYPT != 0
}

func (s *Session) decryptOAEPInSoftware(h pkcs11.ObjectHandle, pub *rsa.PublicKey, ciphertext []byte, hash crypto.Hash) ([]byte, error) {
	serial := s.c.slot.serial()
	if err := s.c.p.DecryptInit(s.c.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)}, h); err != nil {
		return nil, fmt.Errorf("raw rsa decrypt on %s: %w", serial, mapError(err))
	}
	em, err := s.c.p.Decrypt(s.c.sh, ciphertext)
	if err != nil {
		return nil, decryptError(serial, err)
	}
	out, ok := oaepUnpad(hash, em, pub.Size())
	if !ok {
		return nil, errKeyDecrypt(serial)
	}
	return out, nil
}

// ECDH derives the shared secret of the card's EC key and peer (an
// uncompressed point) with CKM_ECDH1_DERIVE. The secret is made as a
// session object only long enough to read it, then destroyed.
func (s *Session) ECDH(k KeyInfo, peer []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return guard(s.c, func() ([]byte, error) { return s.ecdh(k, peer) })
}

func (s *Session) ecdh(k KeyInfo, peer []byte) ([]byte, error) {
	pub, ok := k.Public.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ecdh with a %s key: %w", k.Algorithm, ErrUnsupported)
	}
	// A point off the curve is damaged input, not a card fault: say so
	// before the module answers with a code of its choosing.
	if ep, err := pub.ECDH(); err != nil {
		return nil, fmt.Errorf("ecdh with a %s key: %w", k.Algorithm, ErrUnsupported)
	} else if _, err := ep.Curve().NewPublicKey(peer); err != nil {
		return nil, fmt.Errorf("the sender's ephemeral key is not a point on %s: %w", k.Algorithm, ErrInvalidInput)
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
