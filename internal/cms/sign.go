// Package cms builds and reads the CMS (RFC 5652) structures cardbridge
// needs: SignedData signed by a key on a card, with CAdES-BES attributes,
// and EnvelopedData / AuthEnvelopedData to decrypt S/MIME mail. The ASN.1
// is written by hand with encoding/asn1 so that a detached signature can be
// made from a digest alone; openssl is the judge in the tests.
package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnveloped = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}

	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// ErrInvalid marks input that cannot be signed or parsed.
var ErrInvalid = errors.New("invalid")

var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512}

// HashByName maps "SHA-256", "SHA-384", "SHA-512" onto crypto.Hash.
func HashByName(name string) (crypto.Hash, error) {
	switch name {
	case "SHA-256":
		return crypto.SHA256, nil
	case "SHA-384":
		return crypto.SHA384, nil
	case "SHA-512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("digest algorithm %q: use SHA-256, SHA-384 or SHA-512: %w", name, ErrInvalid)
}

// HashName is the wire name of h, as HashByName reads it.
func HashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA384:
		return "SHA-384"
	case crypto.SHA512:
		return "SHA-512"
	}
	return "SHA-256"
}

// MicAlg is the multipart/signed micalg name of h (RFC 8551).
func MicAlg(h crypto.Hash) string {
	switch h {
	case crypto.SHA384:
		return "sha-384"
	case crypto.SHA512:
		return "sha-512"
	}
	return "sha-256"
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type encapContent struct {
	Type    asn1.ObjectIdentifier
	Content asn1.RawValue `asn1:"optional"` // [0] EXPLICIT, built by hand
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContent     encapContent
	Certificates     asn1.RawValue `asn1:"optional"` // [0] IMPLICIT, built by hand
	SignerInfos      asn1.RawValue
}

type contentInfo struct {
	Type    asn1.ObjectIdentifier
	Content asn1.RawValue // [0] EXPLICIT, built by hand
}

// SignOptions say how to sign.
type SignOptions struct {
	Hash crypto.Hash
	PSS  bool // RSA keys: RSASSA-PSS instead of PKCS #1 v1.5
	// Content, when set, is embedded (an attached signature); the digest
	// must then be its hash.
	Content []byte
	Time    time.Time // signingTime; now when zero
}

// Sign makes a ContentInfo with SignedData over content whose hash is
// digest, signed by signer, whose certificate is cert. chain is included
// for verifiers. The signed attributes are contentType, messageDigest,
// signingTime and signingCertificateV2, as CAdES-BES asks.
func Sign(signer crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, digest []byte, o SignOptions) ([]byte, error) {
	hashOID, ok := hashOIDs[o.Hash]
	if !ok || len(digest) != o.Hash.Size() {
		return nil, fmt.Errorf("digest of %d bytes for %v: %w", len(digest), o.Hash, ErrInvalid)
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	attrs, err := signedAttributes(cert, digest, o.Time)
	if err != nil {
		return nil, err
	}
	h := o.Hash.New()
	h.Write(attrs)
	var opts crypto.SignerOpts = o.Hash
	sigAlg, err := signatureAlgorithm(cert.PublicKey, o.Hash, o.PSS)
	if err != nil {
		return nil, err
	}
	if o.PSS {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: o.Hash}
	}
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), opts)
	if err != nil {
		return nil, err
	}
	// The signed attributes are signed as a SET (tag 0x31) but stored
	// with the implicit [0] tag.
	stored := append([]byte{0xa0}, attrs[1:]...)
	si := signerInfo{
		Version:            1,
		SID:                issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber},
		DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: hashOID},
		SignedAttrs:        asn1.RawValue{FullBytes: stored},
		SignatureAlgorithm: sigAlg,
		Signature:          sig,
	}
	siDER, err := asn1.Marshal(si)
	if err != nil {
		return nil, err
	}
	digestAlgs, _ := asn1.Marshal(pkix.AlgorithmIdentifier{Algorithm: hashOID})
	// CertificateSet is a SET OF: DER wants its members in ascending
	// byte order, and strict parsers refuse any other order.
	var raws [][]byte
	for _, c := range append([]*x509.Certificate{cert}, chain...) {
		raws = append(raws, c.Raw)
	}
	sort.Slice(raws, func(i, j int) bool { return bytes.Compare(raws[i], raws[j]) < 0 })
	certs := bytes.Join(raws, nil)
	sd := signedData{
		Version:          1,
		DigestAlgorithms: asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: digestAlgs},
		EncapContent:     encapContent{Type: oidData},
		Certificates:     asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos:      asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: siDER},
	}
	if o.Content != nil {
		octets, _ := asn1.Marshal(o.Content)
		sd.EncapContent.Content = asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: octets}
	}
	sdDER, err := asn1.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{Type: oidSignedData, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: sdDER}})
}

func signatureAlgorithm(pub crypto.PublicKey, h crypto.Hash, pss bool) (pkix.AlgorithmIdentifier, error) {
	switch pub.(type) {
	case *rsa.PublicKey:
		if !pss {
			return pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, nil
		}
		hashAlg := pkix.AlgorithmIdentifier{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue}
		hashDER, _ := asn1.Marshal(hashAlg)
		mgf, _ := asn1.Marshal(pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: hashDER}})
		salt, _ := asn1.Marshal(h.Size())
		explicit := func(tag int, inner []byte) asn1.RawValue {
			return asn1.RawValue{Class: 2, Tag: tag, IsCompound: true, Bytes: inner}
		}
		params, err := asn1.Marshal(struct{ Hash, MGF, Salt asn1.RawValue }{explicit(0, hashDER), explicit(1, mgf), explicit(2, salt)})
		if err != nil {
			return pkix.AlgorithmIdentifier{}, err
		}
		return pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: params}}, nil
	case *ecdsa.PublicKey:
		if pss {
			break
		}
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSASHA256, crypto.SHA384: oidECDSASHA384, crypto.SHA512: oidECDSASHA512}[h]
		return pkix.AlgorithmIdentifier{Algorithm: oid}, nil
	}
	return pkix.AlgorithmIdentifier{}, fmt.Errorf("signature scheme for %T: %w", pub, ErrInvalid)
}

// signedAttributes returns the DER SET OF Attribute, sorted as DER wants.
func signedAttributes(cert *x509.Certificate, digest []byte, t time.Time) ([]byte, error) {
	certHash := crypto.SHA256.New()
	certHash.Write(cert.Raw)
	// ESSCertIDv2 with the default hash (SHA-256, so omitted) and the
	// issuer and serial, which tie the hash to one certificate.
	directoryName, err := asn1.Marshal(asn1.RawValue{Class: 2, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer})
	if err != nil {
		return nil, err
	}
	issuerSerial, err := asn1.Marshal(struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}{asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: directoryName}, cert.SerialNumber})
	if err != nil {
		return nil, err
	}
	essCertID, _ := asn1.Marshal(struct {
		Hash         []byte
		IssuerSerial asn1.RawValue
	}{certHash.Sum(nil), asn1.RawValue{FullBytes: issuerSerial}})
	signingCert, _ := asn1.Marshal(struct {
		Certs asn1.RawValue
	}{asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: essCertID}})

	ct, _ := asn1.Marshal(oidData)
	md, _ := asn1.Marshal(digest)
	st, err := asn1.MarshalWithParams(t.UTC(), "utc")
	if err != nil {
		return nil, err
	}
	var encoded [][]byte
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		val []byte
	}{{oidAttrContentType, ct}, {oidAttrMessageDigest, md}, {oidAttrSigningTime, st}, {oidAttrSigningCertV2, signingCert}} {
		b, err := asn1.Marshal(attribute{Type: a.oid, Values: asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: a.val}})
		if err != nil {
			return nil, err
		}
		encoded = append(encoded, b)
	}
	sort.Slice(encoded, func(i, j int) bool { return bytes.Compare(encoded[i], encoded[j]) < 0 })
	return asn1.Marshal(asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: bytes.Join(encoded, nil)})
}
