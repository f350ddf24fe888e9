package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/miekg/pkcs11"
)

// KeyInfo describes a key pair on a card as far as it can be seen without
// logging in: from its public key object or its certificate.
type KeyInfo struct {
	ID          []byte
	Label       string
	Algorithm   string // KeyAlgorithm name, e.g. "EC-P256"
	Public      crypto.PublicKey
	SPKI        []byte // DER SubjectPublicKeyInfo
	Certificate []byte // DER X.509, nil if none is stored with this CKA_ID
	// Unusable, when set, says why this key cannot be used: its public key
	// could not be read or is of a kind we do not handle. Such a key is
	// listed, so that it is never silently missing, but has no Public,
	// SPKI or Algorithm, and Key refuses it.
	Unusable string
	// AlwaysAuthenticate: the card wants the PIN again before every use
	// of this key (CKA_ALWAYS_AUTHENTICATE; PIV slot 9c), so a batch
	// presents it once per signature.
	AlwaysAuthenticate bool
}

// IDHex is the CKA_ID in lower-case hex, as keys are named on the wire.
func (k *KeyInfo) IDHex() string { return hex.EncodeToString(k.ID) }

// algorithms lists the key algorithms the token can generate, from its
// mechanism list and the key sizes it declares. The module's scan reads
// them when it first sees a card (learnAlgorithms), so that cards.list
// never waits for a module.
func (m *Manager) algorithms(s slot) []string {
	key := algKey(s)
	m.mu.Lock()
	cached, ok := m.algs[key]
	m.mu.Unlock()
	if ok {
		return cached
	}
	out := s.algorithms()
	m.mu.Lock()
	m.algs[key] = out
	m.mu.Unlock()
	return out
}

// knownAlgorithms is algorithms from the cache only, for cards.list: a
// card whose module has not finished reading them shows none yet.
func (m *Manager) knownAlgorithms(s slot) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.algs[algKey(s)]
}

// algKey names a token for the algorithm cache before its card has a
// name: a token's mechanisms do not change.
func algKey(s slot) string {
	return s.mod.path + "\x00" + s.tokenSerial() + "\x00" + clean(s.token.Label)
}

// learnAlgorithms reads the algorithms of the cards in ss not seen before;
// it runs in mod's scan goroutine.
func (m *Manager) learnAlgorithms(mod *module, ss []slot) {
	for _, s := range ss {
		if s.token == nil {
			continue
		}
		m.mu.Lock()
		_, ok := m.algs[algKey(s)]
		m.mu.Unlock()
		if ok {
			continue
		}
		mod.rw.RLock()
		if mod.gen.Load() == s.gen {
			m.algorithms(s)
		}
		mod.rw.RUnlock()
	}
}

func (s slot) algorithms() []string {
	p := s.mod.ctx
	info := func(mech uint) (pkcs11.MechanismInfo, bool) {
		mi, err := p.GetMechanismInfo(s.id, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)})
		return mi, err == nil && mi.Flags&pkcs11.CKF_GENERATE_KEY_PAIR != 0
	}
	var out []string
	rsaInfo, rsaOK := info(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN)
	ecInfo, ecOK := info(pkcs11.CKM_EC_KEY_PAIR_GEN)
	for _, a := range KeyAlgorithms {
		mi, ok := rsaInfo, rsaOK
		if !a.RSA {
			mi, ok = ecInfo, ecOK
		}
		if ok && fitsKeySize(mi, a.Bits) {
			out = append(out, a.Name)
		}
	}
	return out
}

// fitsKeySize reads ulMinKeySize/ulMaxKeySize. Some older modules give them
// in bytes; a maximum below 512 cannot be in bits for RSA, nor for EC beyond
// P-521, so it is read as bytes.
func fitsKeySize(mi pkcs11.MechanismInfo, bits int) bool {
	lo, hi := int(mi.MinKeySize), int(mi.MaxKeySize)
	if hi == 0 {
		return true
	}
	if hi < 100 {
		lo, hi = lo*8, hi*8
	}
	return bits >= lo && bits <= hi
}

// Keys lists the key pairs on the card. It needs no PIN.
//
// The list is kept for keysTTL: on a real card it takes many APDUs, and
// pages poll it. A write on the card, a failure, and a re-initialisation of
// its module drop it at once, so only another application's changes can
// take up to keysTTL to show.
func (m *Manager) Keys(ctx context.Context, serial string) ([]KeyInfo, error) {
	s, err := m.find(serial)
	if err != nil {
		return nil, fmt.Errorf("list keys on %s: %w", serialOrAny(serial), err)
	}
	keys, err := m.keys.get(s.key(), func() (keys []KeyInfo, err error) {
		// The load is shared with other callers: one page going away
		// must not fail the others' reads.
		err = m.do(context.WithoutCancel(ctx), s.serial(), func(c *conn) error {
			keys, err = guard(c, c.keys)
			return err
		})
		return keys, err
	})
	if err != nil {
		return nil, fmt.Errorf("list keys on %s: %w", serialOrAny(serial), err)
	}
	return keys, nil
}

// keysTTL is how long a key list is reused; see Keys.
const keysTTL = time.Second

// Key returns one key pair by CKA_ID, or ErrNotFound.
func (m *Manager) Key(ctx context.Context, serial string, id []byte) (KeyInfo, error) {
	keys, err := m.Keys(ctx, serial)
	if err != nil {
		return KeyInfo{}, err
	}
	for _, k := range keys {
		if bytes.Equal(k.ID, id) && k.Unusable != "" {
			return KeyInfo{}, fmt.Errorf("key %x on %s: %s: %w", id, serialOrAny(serial), k.Unusable, ErrUnsupported)
		}
		if bytes.Equal(k.ID, id) {
			return k, nil
		}
	}
	return KeyInfo{}, fmt.Errorf("key %x on %s: %w", id, serialOrAny(serial), ErrNotFound)
}

func serialOrAny(serial string) string {
	if serial == "" {
		return "the card"
	}
	return serial
}

func (c *conn) find(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	return c.findIn(c.sh, template)
}

func (c *conn) findIn(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := c.p.FindObjectsInit(sh, template); err != nil {
		return nil, mapError(err)
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := c.p.FindObjects(sh, 64)
		if err != nil {
			c.p.FindObjectsFinal(sh)
			return nil, mapError(err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, mapError(c.p.FindObjectsFinal(sh))
}

func (c *conn) attrs(h pkcs11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := c.p.GetAttributeValue(c.sh, h, tmpl)
	if err != nil {
		return nil, mapError(err)
	}
	out := make(map[uint][]byte, len(got))
	for _, a := range got {
		out[a.Type] = a.Value
	}
	return out, nil
}

// keys reads every public key and certificate object and joins them by
// CKA_ID.
func (c *conn) keys() ([]KeyInfo, error) {
	byID := map[string]*KeyInfo{}
	pubs, err := c.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)})
	if err != nil {
		return nil, err
	}
	for _, h := range pubs {
		k, err := c.publicKey(h)
		if err != nil {
			k = c.unusableKey(h, err)
			if k == nil || byID[string(k.ID)] != nil {
				continue
			}
		}
		byID[string(k.ID)] = k
	}
	certs, err := c.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	for _, h := range certs {
		a, err := c.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_VALUE, pkcs11.CKA_LABEL)
		if err != nil || len(a[pkcs11.CKA_ID]) == 0 {
			continue
		}
		if isAuthority(c, h) {
			// A CA certificate of the chain, whose public key some
			// modules (OpenSC) show as an object of its own: not a key
			// of the user's.
			delete(byID, string(a[pkcs11.CKA_ID]))
			continue
		}
		k := byID[string(a[pkcs11.CKA_ID])]
		if k != nil && k.Unusable != "" {
			// The certificate may give the public key the key object
			// would not.
			if cert, err := x509.ParseCertificate(a[pkcs11.CKA_VALUE]); err == nil {
				if alg, ok := keyAlgorithmOf(cert.PublicKey); ok {
					k.Public, k.SPKI, k.Algorithm, k.Unusable = cert.PublicKey, cert.RawSubjectPublicKeyInfo, alg, ""
				}
			}
			if k.Unusable != "" {
				continue
			}
		}
		if k == nil {
			// Some cards keep only the certificate and the private key.
			cert, err := x509.ParseCertificate(a[pkcs11.CKA_VALUE])
			if err != nil || cert.IsCA {
				continue // a certificate alone, of a CA: not a key
			}
			alg, ok := keyAlgorithmOf(cert.PublicKey)
			if !ok {
				continue
			}
			k = &KeyInfo{ID: a[pkcs11.CKA_ID], Label: string(a[pkcs11.CKA_LABEL]), Algorithm: alg, Public: cert.PublicKey, SPKI: cert.RawSubjectPublicKeyInfo}
			byID[string(k.ID)] = k
		}
		if k.Certificate == nil {
			k.Certificate = a[pkcs11.CKA_VALUE]
		}
	}
	c.markAlwaysAuthenticate(byID)
	out := make([]KeyInfo, 0, len(byID))
	for _, k := range byID {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].ID, out[j].ID) < 0 })
	return out, nil
}

// markAlwaysAuthenticate sets AlwaysAuthenticate on the keys whose private
// half says so, as far as private keys can be seen without a login, and on
// the key in PIV slot 9c, which always does.
func (c *conn) markAlwaysAuthenticate(byID map[string]*KeyInfo) {
	if c.slot.token != nil && c.slot.fixedSlots() {
		if k := byID[string([]byte{pivPurposes["sign"].id})]; k != nil {
			k.AlwaysAuthenticate = true
		}
	}
	privs, err := c.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	if err != nil {
		return
	}
	for _, h := range privs {
		a, err := c.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_ALWAYS_AUTHENTICATE)
		if err != nil {
			continue
		}
		if k := byID[string(a[pkcs11.CKA_ID])]; k != nil && len(a[pkcs11.CKA_ALWAYS_AUTHENTICATE]) > 0 && a[pkcs11.CKA_ALWAYS_AUTHENTICATE][0] != 0 {
			k.AlwaysAuthenticate = true
		}
	}
}

// isAuthority reports a certificate object stored as a CA's
// (CKA_CERTIFICATE_CATEGORY 2, as cardbridge and pkcs11-tool write the
// chain). Basic constraints alone do not say it: a self-signed user
// certificate often claims CA:TRUE.
func isAuthority(c *conn, h pkcs11.ObjectHandle) bool {
	cat, err := c.attrs(h, pkcs11.CKA_CERTIFICATE_CATEGORY)
	return err == nil && bytesToUint(cat[pkcs11.CKA_CERTIFICATE_CATEGORY]) == 2
}

// unusableKey lists a public key object that publicKey could not read, with
// the reason, or returns nil when not even its CKA_ID can be read.
func (c *conn) unusableKey(h pkcs11.ObjectHandle, why error) *KeyInfo {
	a, err := c.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL)
	if err != nil || len(a[pkcs11.CKA_ID]) == 0 {
		return nil
	}
	return &KeyInfo{ID: a[pkcs11.CKA_ID], Label: clean(string(a[pkcs11.CKA_LABEL])), Unusable: "cannot read the public key: " + why.Error()}
}

func (c *conn) publicKey(h pkcs11.ObjectHandle) (*KeyInfo, error) {
	a, err := c.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_KEY_TYPE)
	if err != nil {
		return nil, err
	}
	k := &KeyInfo{ID: a[pkcs11.CKA_ID], Label: string(a[pkcs11.CKA_LABEL])}
	switch bytesToUint(a[pkcs11.CKA_KEY_TYPE]) {
	case pkcs11.CKK_RSA:
		v, err := c.attrs(h, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(v[pkcs11.CKA_MODULUS]), E: int(new(big.Int).SetBytes(v[pkcs11.CKA_PUBLIC_EXPONENT]).Int64())}
		k.Public = pub
	case pkcs11.CKK_EC:
		v, err := c.attrs(h, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(v[pkcs11.CKA_EC_PARAMS], &oid); err != nil {
			return nil, fmt.Errorf("ec params: %w", err)
		}
		alg, ok := curveByOID(oid)
		if !ok {
			return nil, fmt.Errorf("curve %v: %w", oid, ErrUnsupported)
		}
		point := unwrapECPoint(v[pkcs11.CKA_EC_POINT], alg.Curve)
		pub, err := ecdsa.ParseUncompressedPublicKey(alg.Curve, point)
		if err != nil {
			return nil, fmt.Errorf("ec point is malformed: %w", err)
		}
		k.Public = pub
	default:
		return nil, fmt.Errorf("key type %#x: %w", bytesToUint(a[pkcs11.CKA_KEY_TYPE]), ErrUnsupported)
	}
	alg, ok := keyAlgorithmOf(k.Public)
	if !ok {
		return nil, fmt.Errorf("key size or curve: %w", ErrUnsupported)
	}
	k.Algorithm = alg
	if k.SPKI, err = x509.MarshalPKIXPublicKey(k.Public); err != nil {
		return nil, err
	}
	return k, nil
}

// keyAlgorithmOf names a public key, e.g. "RSA-2048". RSA sizes that are not
// in KeyAlgorithms are still named, so that imported keys show up.
func keyAlgorithmOf(pub crypto.PublicKey) (string, bool) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", pub.N.BitLen()), true
	case *ecdsa.PublicKey:
		for _, a := range KeyAlgorithms {
			if a.Curve == pub.Curve {
				return a.Name, true
			}
		}
	}
	return "", false
}

func bytesToUint(b []byte) uint {
	// CK_ULONG comes back in host byte order and size; every platform we
	// build for is little-endian.
	var v uint
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint(b[i])
	}
	return v
}

// generate creates a key pair with a fresh CKA_ID shared by both halves.
// The private half stays on the card: sensitive and never extractable.
func (c *conn) generate(alg KeyAlgorithm, label string) (KeyInfo, error) {
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return KeyInfo{}, err
	}
	pub := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	priv := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if alg.RSA {
		pub = append(pub, pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
	} else {
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
	}
	mech, pub, priv, err := withAlgorithm(alg, pub, priv)
	if err != nil {
		return KeyInfo{}, err
	}
	c.wrote = true
	hpub, hpriv, err := c.p.GenerateKeyPair(c.sh, []*pkcs11.Mechanism{mech}, pub, priv)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("generate %s key: %w", alg.Name, mapError(err))
	}
	k, err := c.publicKey(hpub)
	if err != nil {
		// Do not leave half a key pair behind.
		c.p.DestroyObject(c.sh, hpub)
		c.p.DestroyObject(c.sh, hpriv)
		return KeyInfo{}, fmt.Errorf("read generated %s key: %w", alg.Name, err)
	}
	return *k, nil
}

// withAlgorithm adds to key pair templates what alg needs, and returns the
// mechanism that generates it.
func withAlgorithm(alg KeyAlgorithm, pub, priv []*pkcs11.Attribute) (*pkcs11.Mechanism, []*pkcs11.Attribute, []*pkcs11.Attribute, error) {
	if alg.RSA {
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, alg.Bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil), pub, priv, nil
	}
	params, err := asn1.Marshal(alg.oid)
	if err != nil {
		return nil, nil, nil, err
	}
	pub = append(pub, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	return pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pub, priv, nil
}

// privateKey finds the private key object with the given CKA_ID. It needs a
// login on most cards.
func (c *conn) privateKey(id []byte) (pkcs11.ObjectHandle, error) {
	return c.findPrivateKey(c.sh, id)
}

// findPrivateKey is privateKey in another session of the same login.
func (c *conn) findPrivateKey(sh pkcs11.SessionHandle, id []byte) (pkcs11.ObjectHandle, error) {
	hs, err := c.findIn(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return 0, err
	}
	if len(hs) == 0 {
		return 0, fmt.Errorf("private key %x: %w", id, ErrNotFound)
	}
	return hs[0], nil
}
