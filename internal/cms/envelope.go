package cms

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var (
	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES192GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	oidAES256GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidAES128KW  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	oidAES192KW  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 25}
	oidAES256KW  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}
	oidRSAOAEP   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}

	// dhSinglePass-stdDH-sha*kdf-scheme (RFC 5753).
	oidECDHSHA1   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	oidECDHSHA224 = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	oidECDHSHA256 = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	oidECDHSHA384 = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	oidECDHSHA512 = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
)

// Recipient is one RecipientInfo: who can open the message, and the
// content key encrypted for them.
type Recipient struct {
	Issuer       []byte // raw issuer Name, with Serial; or nil when SKI names it
	Serial       *big.Int
	SKI          []byte
	EncryptedKey []byte

	// Key transport (RSA).
	KeyTransport bool
	OAEPHash     crypto.Hash // 0 for PKCS #1 v1.5

	// Key agreement (ECDH): the sender's ephemeral public point, the
	// optional user keying material, and how the shared secret becomes a
	// key-encryption key.
	OriginatorPoint []byte
	ukm             []byte
	kdfHash         crypto.Hash
	wrapAlg         asn1.ObjectIdentifier
	wrapAlgDER      []byte
}

// Matches reports whether cert is this recipient.
func (r *Recipient) Matches(cert *x509.Certificate) bool {
	if r.Issuer != nil {
		return bytes.Equal(r.Issuer, cert.RawIssuer) && r.Serial.Cmp(cert.SerialNumber) == 0
	}
	return len(r.SKI) > 0 && bytes.Equal(r.SKI, cert.SubjectKeyId)
}

// Envelope is a parsed EnvelopedData or AuthEnvelopedData.
type Envelope struct {
	Recipients []Recipient
	alg        asn1.ObjectIdentifier
	iv         []byte // CBC IV or GCM nonce
	tagLen     int
	ciphertext []byte
	mac        []byte
	aad        []byte
	gcm        bool
}

// KeyOpener does the private-key half of opening: on a card, never here.
type KeyOpener interface {
	// DecryptKey decrypts an RSA-encrypted content key.
	DecryptKey(encryptedKey []byte, oaepHash crypto.Hash) ([]byte, error)
	// ECDH returns the shared secret (the x coordinate) with peer, an
	// uncompressed point.
	ECDH(peer []byte) ([]byte, error)
}

func next(b []byte) (asn1.RawValue, []byte, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return v, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return v, rest, nil
}

// ParseEnvelope reads a ContentInfo holding EnvelopedData or
// AuthEnvelopedData, in DER or BER.
func ParseEnvelope(in []byte) (*Envelope, error) {
	der, err := toDER(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a CMS ContentInfo", ErrInvalid)
	}
	if ci.Content.Class != 2 || ci.Content.Tag != 0 {
		return nil, fmt.Errorf("%w: bad ContentInfo", ErrInvalid)
	}
	e := &Envelope{}
	switch {
	case ci.Type.Equal(oidEnvelopedData):
	case ci.Type.Equal(oidAuthEnveloped):
		e.gcm = true
	default:
		return nil, fmt.Errorf("%w: content type %v is not an encrypted message", ErrInvalid, ci.Type)
	}
	seq, _, err := next(ci.Content.Bytes)
	if err != nil {
		return nil, err
	}
	rest := seq.Bytes
	var version int
	if rest, err = asn1.Unmarshal(rest, &version); err != nil {
		return nil, fmt.Errorf("%w: version: %v", ErrInvalid, err)
	}
	el, rest, err := next(rest)
	if err != nil {
		return nil, err
	}
	if el.Class == 2 && el.Tag == 0 { // originatorInfo
		if el, rest, err = next(rest); err != nil {
			return nil, err
		}
	}
	if el.Tag != 17 {
		return nil, fmt.Errorf("%w: recipientInfos missing", ErrInvalid)
	}
	if err := e.parseRecipients(el.Bytes); err != nil {
		return nil, err
	}
	if el, rest, err = next(rest); err != nil {
		return nil, err
	}
	if err := e.parseContent(el.FullBytes); err != nil {
		return nil, err
	}
	if e.gcm {
		for len(rest) > 0 {
			if el, rest, err = next(rest); err != nil {
				return nil, err
			}
			switch {
			case el.Class == 2 && el.Tag == 1: // authAttrs: authenticated as a SET
				e.aad = append([]byte{0x31}, el.FullBytes[1:]...)
			case el.Class == 0 && el.Tag == 4:
				e.mac = el.Bytes
			}
		}
		if len(e.mac) == 0 {
			return nil, fmt.Errorf("%w: authenticated message without a MAC", ErrInvalid)
		}
	}
	return e, nil
}

func (e *Envelope) parseContent(der []byte) error {
	var eci struct {
		Type      asn1.ObjectIdentifier
		Algorithm pkix.AlgorithmIdentifier
		Content   asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(der, &eci); err != nil {
		return fmt.Errorf("%w: encryptedContentInfo: %v", ErrInvalid, err)
	}
	if eci.Content.Class != 2 || eci.Content.Tag != 0 {
		return fmt.Errorf("%w: the message has no encrypted content", ErrInvalid)
	}
	ct, err := implicitOctets(eci.Content)
	if err != nil {
		return err
	}
	e.ciphertext = ct
	e.alg = eci.Algorithm.Algorithm
	switch {
	case e.alg.Equal(oidAES128CBC), e.alg.Equal(oidAES192CBC), e.alg.Equal(oidAES256CBC):
		if _, err := asn1.Unmarshal(eci.Algorithm.Parameters.FullBytes, &e.iv); err != nil || len(e.iv) != aes.BlockSize {
			return fmt.Errorf("%w: bad CBC IV", ErrInvalid)
		}
		if e.gcm {
			return fmt.Errorf("%w: CBC in an authenticated envelope", ErrInvalid)
		}
	case e.alg.Equal(oidAES128GCM), e.alg.Equal(oidAES192GCM), e.alg.Equal(oidAES256GCM):
		var p struct {
			Nonce  []byte
			ICVLen int `asn1:"optional,default:12"`
		}
		if _, err := asn1.Unmarshal(eci.Algorithm.Parameters.FullBytes, &p); err != nil || len(p.Nonce) == 0 || p.ICVLen < 12 || p.ICVLen > 16 {
			return fmt.Errorf("%w: bad GCM parameters", ErrInvalid)
		}
		if !e.gcm {
			return fmt.Errorf("%w: GCM outside an authenticated envelope", ErrInvalid)
		}
		e.iv, e.tagLen = p.Nonce, p.ICVLen
	default:
		return fmt.Errorf("%w: content cipher %v; cardbridge reads AES-CBC and AES-GCM", ErrInvalid, e.alg)
	}
	return nil
}

// implicitOctets returns the value of an [n] IMPLICIT OCTET STRING. In
// streaming BER (openssl -stream, gpgsm, pkijs, NSS) it is constructed: a
// row of OCTET STRING chunks whose headers are not part of the value.
// toDER cannot join them, for it cannot know that [0] there is a string.
func implicitOctets(v asn1.RawValue) ([]byte, error) {
	if !v.IsCompound {
		return v.Bytes, nil
	}
	var out []byte
	for rest := v.Bytes; len(rest) > 0; {
		var chunk asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &chunk); err != nil {
			return nil, fmt.Errorf("%w: encrypted content chunk: %v", ErrInvalid, err)
		}
		if chunk.Class != 0 || chunk.Tag != 4 || chunk.IsCompound {
			return nil, fmt.Errorf("%w: encrypted content chunk is not an OCTET STRING", ErrInvalid)
		}
		out = append(out, chunk.Bytes...)
	}
	return out, nil
}

func (e *Envelope) parseRecipients(set []byte) error {
	for len(set) > 0 {
		el, rest, err := next(set)
		if err != nil {
			return err
		}
		set = rest
		switch {
		case el.Class == 0 && el.Tag == 16:
			r, err := parseKTRI(el.Bytes)
			if err != nil {
				return err
			}
			e.Recipients = append(e.Recipients, r)
		case el.Class == 2 && el.Tag == 1:
			rs, err := parseKARI(el.Bytes)
			if err != nil {
				return err
			}
			e.Recipients = append(e.Recipients, rs...)
		default:
			// KEK, password and other recipients cannot be a card key.
		}
	}
	return nil
}

// parseRID reads a recipient identifier: issuerAndSerialNumber, or a
// [0] subject key identifier.
func parseRID(el asn1.RawValue, r *Recipient) error {
	if el.Class == 2 && el.Tag == 0 {
		ski, err := implicitOctets(el)
		r.SKI = ski
		return err
	}
	var ias struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	if _, err := asn1.Unmarshal(el.FullBytes, &ias); err != nil {
		return fmt.Errorf("%w: recipient identifier: %v", ErrInvalid, err)
	}
	r.Issuer, r.Serial = ias.Issuer.FullBytes, ias.Serial
	return nil
}

func parseKTRI(b []byte) (Recipient, error) {
	r := Recipient{KeyTransport: true}
	var version int
	rest, err := asn1.Unmarshal(b, &version)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rid, rest, err := next(rest)
	if err != nil {
		return r, err
	}
	if err := parseRID(rid, &r); err != nil {
		return r, err
	}
	var alg pkix.AlgorithmIdentifier
	if rest, err = asn1.Unmarshal(rest, &alg); err != nil {
		return r, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err = asn1.Unmarshal(rest, &r.EncryptedKey); err != nil {
		return r, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch {
	case alg.Algorithm.Equal(oidRSAEncryption):
	case alg.Algorithm.Equal(oidRSAOAEP):
		r.OAEPHash = crypto.SHA1 // the default of RSAES-OAEP-params
		var p struct {
			Hash pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		}
		if len(alg.Parameters.FullBytes) > 0 {
			asn1.Unmarshal(alg.Parameters.FullBytes, &p)
			for h, oid := range hashOIDs {
				if p.Hash.Algorithm.Equal(oid) {
					r.OAEPHash = h
				}
			}
		}
	default:
		return r, fmt.Errorf("%w: key transport %v", ErrInvalid, alg.Algorithm)
	}
	return r, nil
}

func parseKARI(b []byte) ([]Recipient, error) {
	var version int
	rest, err := asn1.Unmarshal(b, &version)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	orig, rest, err := next(rest)
	if err != nil || orig.Class != 2 || orig.Tag != 0 {
		return nil, fmt.Errorf("%w: originator missing", ErrInvalid)
	}
	// originatorKey [1] { algorithm, publicKey BIT STRING }
	okey, _, err := next(orig.Bytes)
	if err != nil || okey.Class != 2 || okey.Tag != 1 {
		return nil, fmt.Errorf("%w: only ephemeral-static ECDH is supported", ErrInvalid)
	}
	var opk struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(append([]byte{0x30}, okey.FullBytes[1:]...), &opk); err != nil {
		return nil, fmt.Errorf("%w: originator key: %v", ErrInvalid, err)
	}
	var ukm []byte
	el, rest, err := next(rest)
	if err != nil {
		return nil, err
	}
	if el.Class == 2 && el.Tag == 1 {
		if _, err := asn1.Unmarshal(el.Bytes, &ukm); err != nil {
			return nil, fmt.Errorf("%w: ukm", ErrInvalid)
		}
		if el, rest, err = next(rest); err != nil {
			return nil, err
		}
	}
	var kea pkix.AlgorithmIdentifier
	if _, err := asn1.Unmarshal(el.FullBytes, &kea); err != nil {
		return nil, fmt.Errorf("%w: key agreement algorithm", ErrInvalid)
	}
	kdf := map[string]crypto.Hash{oidECDHSHA1.String(): crypto.SHA1, oidECDHSHA224.String(): crypto.SHA224,
		oidECDHSHA256.String(): crypto.SHA256, oidECDHSHA384.String(): crypto.SHA384, oidECDHSHA512.String(): crypto.SHA512}[kea.Algorithm.String()]
	if kdf == 0 {
		return nil, fmt.Errorf("%w: key agreement %v", ErrInvalid, kea.Algorithm)
	}
	var wrap pkix.AlgorithmIdentifier
	if _, err := asn1.Unmarshal(kea.Parameters.FullBytes, &wrap); err != nil {
		return nil, fmt.Errorf("%w: key wrap algorithm", ErrInvalid)
	}
	wrapDER, _ := asn1.Marshal(wrap)
	var reks []asn1.RawValue
	if _, err := asn1.Unmarshal(rest, &reks); err != nil {
		return nil, fmt.Errorf("%w: recipientEncryptedKeys: %v", ErrInvalid, err)
	}
	var out []Recipient
	for _, rek := range reks {
		r := Recipient{OriginatorPoint: opk.PublicKey.RightAlign(), ukm: ukm, kdfHash: kdf, wrapAlg: wrap.Algorithm, wrapAlgDER: wrapDER}
		rid, rest, err := next(rek.Bytes)
		if err != nil {
			return nil, err
		}
		if rid.Class == 2 && rid.Tag == 0 { // rKeyId [0] { subjectKeyIdentifier, ... }
			var ski []byte
			if _, err := asn1.Unmarshal(rid.Bytes, &ski); err != nil {
				return nil, fmt.Errorf("%w: rKeyId", ErrInvalid)
			}
			rid = asn1.RawValue{Class: 2, Tag: 0, Bytes: ski}
		}
		if err := parseRID(rid, &r); err != nil {
			return nil, err
		}
		if _, err := asn1.Unmarshal(rest, &r.EncryptedKey); err != nil {
			return nil, fmt.Errorf("%w: encrypted key", ErrInvalid)
		}
		out = append(out, r)
	}
	return out, nil
}

func wrapKeySize(oid asn1.ObjectIdentifier) int {
	switch {
	case oid.Equal(oidAES128KW):
		return 16
	case oid.Equal(oidAES192KW):
		return 24
	case oid.Equal(oidAES256KW):
		return 32
	}
	return 0
}

// eccSharedInfo is ECC-CMS-SharedInfo (RFC 5753, section 7.2).
func eccSharedInfo(wrapAlgDER, ukm []byte, kekBits int) []byte {
	body := append([]byte{}, wrapAlgDER...)
	if ukm != nil {
		octets, _ := asn1.Marshal(ukm)
		e, _ := asn1.Marshal(asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: octets})
		body = append(body, e...)
	}
	bits, _ := asn1.Marshal([]byte{byte(kekBits >> 24), byte(kekBits >> 16), byte(kekBits >> 8), byte(kekBits)})
	supp, _ := asn1.Marshal(asn1.RawValue{Class: 2, Tag: 2, IsCompound: true, Bytes: bits})
	out, _ := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: append(body, supp...)})
	return out
}

// Open recovers the content key through opener and decrypts the content.
func (e *Envelope) Open(r Recipient, opener KeyOpener) ([]byte, error) {
	var cek []byte
	var err error
	if r.KeyTransport {
		cek, err = opener.DecryptKey(r.EncryptedKey, r.OAEPHash)
		if err != nil {
			return nil, err
		}
	} else {
		n := wrapKeySize(r.wrapAlg)
		if n == 0 {
			return nil, fmt.Errorf("%w: key wrap %v", ErrInvalid, r.wrapAlg)
		}
		z, err := opener.ECDH(r.OriginatorPoint)
		if err != nil {
			return nil, err
		}
		kek := x963KDF(r.kdfHash, z, eccSharedInfo(r.wrapAlgDER, r.ukm, n*8), n)
		if cek, err = keyUnwrap(kek, r.EncryptedKey); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return e.decrypt(cek)
}

func (e *Envelope) decrypt(cek []byte) ([]byte, error) {
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("%w: content key of %d bytes", ErrInvalid, len(cek))
	}
	if e.gcm {
		var aead cipher.AEAD
		switch {
		case len(e.iv) == 12:
			aead, err = cipher.NewGCMWithTagSize(block, e.tagLen)
		case e.tagLen == 16:
			aead, err = cipher.NewGCMWithNonceSize(block, len(e.iv))
		default:
			err = errors.New("unusual nonce and tag sizes together")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		out, err := aead.Open(nil, e.iv, append(append([]byte{}, e.ciphertext...), e.mac...), e.aad)
		if err != nil {
			return nil, fmt.Errorf("%w: the message was altered or is not for this key", ErrInvalid)
		}
		return out, nil
	}
	if len(e.ciphertext) == 0 || len(e.ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext length", ErrInvalid)
	}
	out := make([]byte, len(e.ciphertext))
	cipher.NewCBCDecrypter(block, e.iv).CryptBlocks(out, e.ciphertext)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(out) || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: bad padding; the message is damaged or not for this key", ErrInvalid)
	}
	return out[:len(out)-pad], nil
}
