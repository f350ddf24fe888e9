package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// StoredCertificate is a certificate object on the card.
type StoredCertificate struct {
	ID       []byte // CKA_ID; matches a key's ID when it is that key's certificate
	Label    string
	DER      []byte
	Category uint // CKA_CERTIFICATE_CATEGORY: 2 = authority
}

// Certificates lists every X.509 certificate object. It needs no PIN.
func (s *Session) Certificates() ([]StoredCertificate, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return guard(s.c, s.c.certificates)
}

func (c *conn) certificates() ([]StoredCertificate, error) {
	hs, err := c.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	var out []StoredCertificate
	for _, h := range hs {
		a, err := c.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_VALUE)
		if err != nil {
			continue
		}
		sc := StoredCertificate{ID: a[pkcs11.CKA_ID], Label: string(a[pkcs11.CKA_LABEL]), DER: a[pkcs11.CKA_VALUE]}
		// Not every module knows CKA_CERTIFICATE_CATEGORY; ask on its own.
		if cat, err := c.attrs(h, pkcs11.CKA_CERTIFICATE_CATEGORY); err == nil {
			sc.Category = bytesToUint(cat[pkcs11.CKA_CERTIFICATE_CATEGORY])
		}
		out = append(out, sc)
	}
	return out, nil
}

// MatchKey returns the key on the card whose public key is pub, or
// ErrCertificateMismatch.
func (s *Session) MatchKey(pub crypto.PublicKey) (KeyInfo, error) {
	if err := s.check(); err != nil {
		return KeyInfo{}, err
	}
	return guard(s.c, func() (KeyInfo, error) { return s.matchKey(pub) })
}

func (s *Session) matchKey(pub crypto.PublicKey) (KeyInfo, error) {
	keys, err := s.c.keys()
	if err != nil {
		return KeyInfo{}, err
	}
	want, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("certificate key: %w", ErrCertificateMismatch)
	}
	for _, k := range keys {
		if bytes.Equal(k.SPKI, want) {
			return k, nil
		}
	}
	return KeyInfo{}, fmt.Errorf("on %s: %w", s.c.slot.serial(), ErrCertificateMismatch)
}

// InstallCertificate stores cert under the CKA_ID of its key, and chain as
// authority certificates. What is already on the card is not written again.
// If a write fails, everything this call wrote is removed again.
func (s *Session) InstallCertificate(cert *x509.Certificate, label string, chain []*x509.Certificate) (KeyInfo, error) {
	if err := s.check(); err != nil {
		return KeyInfo{}, err
	}
	return guard(s.c, func() (KeyInfo, error) { return s.installCertificate(cert, label, chain) })
}

func (s *Session) installCertificate(cert *x509.Certificate, label string, chain []*x509.Certificate) (KeyInfo, error) {
	k, err := s.matchKey(cert.PublicKey)
	if err != nil {
		return KeyInfo{}, err
	}
	existing, err := s.c.certificates()
	if err != nil {
		return KeyInfo{}, err
	}
	if s.c.slot.fixedSlots() {
		// A PIV slot holds its key's certificate and nothing else: no
		// room for the chain, which the page keeps serving anyway.
		err := s.asOfficer(func() error { return s.c.pivCert(cert, k.ID) })
		if err != nil {
			return KeyInfo{}, err
		}
		k.Certificate = cert.Raw
		return k, nil
	}
	w := &writer{c: s.c}
	if err := w.cert(existing, cert, k.ID, label, false); err != nil {
		return KeyInfo{}, w.undo(err)
	}
	for _, ca := range chain {
		if err := w.cert(existing, ca, caID(ca), ca.Subject.CommonName, true); err != nil {
			return KeyInfo{}, w.undo(err)
		}
	}
	k.Certificate = cert.Raw
	return k, nil
}

// caID names a CA certificate by its subject key identifier, or a hash of
// its key when it has none, as tools like pkcs11-tool do.
func caID(c *x509.Certificate) []byte {
	if len(c.SubjectKeyId) > 0 {
		return c.SubjectKeyId
	}
	sum := sha1.Sum(c.RawSubjectPublicKeyInfo)
	return sum[:]
}

// writer creates objects and remembers them, so a failed install can be
// rolled back and leave the card as it was.
type writer struct {
	c       *conn
	created []pkcs11.ObjectHandle
}

func (w *writer) create(tmpl []*pkcs11.Attribute) error {
	w.c.wrote = true
	h, err := w.c.p.CreateObject(w.c.sh, tmpl)
	if err != nil {
		return mapError(err)
	}
	w.created = append(w.created, h)
	return nil
}

func (w *writer) undo(err error) error {
	for i := len(w.created) - 1; i >= 0; i-- {
		w.c.p.DestroyObject(w.c.sh, w.created[i])
	}
	w.created = nil
	return err
}

func (w *writer) cert(existing []StoredCertificate, cert *x509.Certificate, id []byte, label string, authority bool) error {
	for _, e := range existing {
		if bytes.Equal(e.DER, cert.Raw) {
			return nil
		}
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return err
	}
	category := uint(1) // token user
	if authority {
		category = 2
	}
	if label == "" {
		label = cert.Subject.CommonName
	}
	err = w.create([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_CATEGORY, category),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	})
	if err != nil {
		return fmt.Errorf("write certificate %q: %w", label, err)
	}
	return nil
}

// pivCert writes the certificate object of a PIV slot, replacing what it
// held: the template has only what PIV modules accept.
func (c *conn) pivCert(cert *x509.Certificate, id []byte) error {
	c.wrote = true
	_, err := c.p.CreateObject(c.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	})
	if err != nil {
		return fmt.Errorf("write certificate of slot %x: %w", id, mapError(err))
	}
	return nil
}

// DeleteKey removes the key pair with CKA_ID id and the certificates stored
// under that ID. It needs a login to see the private key.
func (s *Session) DeleteKey(id []byte) error {
	if err := s.check(); err != nil {
		return err
	}
	return guard0(s.c, func() error { return s.deleteKey(id) })
}

func (s *Session) deleteKey(id []byte) error {
	var all []pkcs11.ObjectHandle
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_CERTIFICATE} {
		hs, err := s.c.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
		if err != nil {
			return err
		}
		all = append(all, hs...)
	}
	if len(all) == 0 {
		return fmt.Errorf("key %x on %s: %w", id, s.c.slot.serial(), ErrNotFound)
	}
	var errs []error
	s.c.wrote = true
	for _, h := range all {
		if err := s.c.p.DestroyObject(s.c.sh, h); err != nil {
			errs = append(errs, mapError(err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete key %x on %s: %w", id, s.c.slot.serial(), err)
	}
	return nil
}

// ImportKey writes a private key from outside (a PKCS#12 bundle) onto the
// card, with its public half and certificate, under a fresh CKA_ID. The
// key becomes sensitive and non-extractable like a generated one. On
// failure nothing this call wrote stays behind.
func (s *Session) ImportKey(priv crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate, label string) (KeyInfo, error) {
	if err := s.check(); err != nil {
		return KeyInfo{}, err
	}
	return guard(s.c, func() (KeyInfo, error) { return s.importKey(priv, cert, chain, label) })
}

func (s *Session) importKey(priv crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate, label string) (KeyInfo, error) {
	if _, err := s.matchKey(cert.PublicKey); err == nil {
		return KeyInfo{}, fmt.Errorf("this key is already on card %s: %w", s.c.slot.serial(), ErrInvalidInput)
	}
	id := caID(cert)
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		}
	}
	privT := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true))
	pubT := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return KeyInfo{}, fmt.Errorf("multi-prime RSA keys: %w", ErrUnsupported)
		}
		k.Precompute()
		e := big.NewInt(int64(k.E)).Bytes()
		privT = append(privT,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, k.Primes[0].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, k.Primes[1].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()))
		pubT = append(pubT,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e))
	case *ecdsa.PrivateKey:
		alg, ok := keyAlgorithmOf(&k.PublicKey)
		if !ok {
			return KeyInfo{}, fmt.Errorf("curve %s: %w", k.Curve.Params().Name, ErrUnsupported)
		}
		ka, _ := ParseKeyAlgorithm(alg)
		params, _ := asn1.Marshal(ka.oid)
		ecdh, err := k.PublicKey.ECDH()
		if err != nil {
			return KeyInfo{}, fmt.Errorf("ec key: %w", ErrUnsupported)
		}
		point, _ := asn1.Marshal(ecdh.Bytes())
		scalar, err := k.Bytes()
		if err != nil {
			return KeyInfo{}, fmt.Errorf("ec key: %w", ErrUnsupported)
		}
		privT = append(privT,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, scalar))
		pubT = append(pubT,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point))
	default:
		return KeyInfo{}, fmt.Errorf("key type %T: %w", priv, ErrUnsupported)
	}
	w := &writer{c: s.c}
	if err := w.create(privT); err != nil {
		return KeyInfo{}, w.undo(fmt.Errorf("write private key: %w", err))
	}
	if err := w.create(pubT); err != nil {
		return KeyInfo{}, w.undo(fmt.Errorf("write public key: %w", err))
	}
	if err := w.cert(nil, cert, id, label, false); err != nil {
		return KeyInfo{}, w.undo(err)
	}
	existing, err := s.c.certificates()
	if err != nil {
		return KeyInfo{}, w.undo(err)
	}
	for _, ca := range chain {
		if err := w.cert(existing, ca, caID(ca), ca.Subject.CommonName, true); err != nil {
			return KeyInfo{}, w.undo(err)
		}
	}
	return s.matchKey(cert.PublicKey)
}
