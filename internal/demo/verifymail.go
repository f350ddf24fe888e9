package demo

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// signatureCheck is what the webmail shows about a signed message: who
// signed it, and whether signature and certificate hold. It is the
// relying party's check, made on the portal's server as a mail client
// makes it: the signature over the signed part, the certificate's chain to
// the demo root, its validity at signing time and its address against
// From.
type signatureCheck struct {
	Signer   string `json:"signer"`
	Email    string `json:"email,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	NotAfter string `json:"notAfter,omitempty"`
	Valid    bool   `json:"valid"`
	Problem  string `json:"problem,omitempty"`
}

// checkSigned checks a multipart/signed message.
func (p *Portal) checkSigned(raw []byte) signatureCheck {
	entity, sig, from, err := splitSigned(raw)
	if err != nil {
		return signatureCheck{Problem: err.Error()}
	}
	cert, signedAt, err := verifyCMS(sig, entity)
	if cert == nil {
		return signatureCheck{Problem: err.Error()}
	}
	c := signatureCheck{Signer: cert.Subject.CommonName, Issuer: cert.Issuer.CommonName, NotAfter: cert.NotAfter.UTC().Format(time.RFC3339)}
	if len(cert.EmailAddresses) > 0 {
		c.Email = cert.EmailAddresses[0]
	}
	switch {
	case err != nil:
		c.Problem = err.Error()
	case p.CA.Verify(cert) != nil:
		c.Problem = "the certificate was not issued by the Demo CA: " + p.CA.Verify(cert).Error()
	case !signedAt.IsZero() && (signedAt.Before(cert.NotBefore) || signedAt.After(cert.NotAfter)):
		c.Problem = "the certificate was not valid when the message was signed"
	case !slices.ContainsFunc(cert.EmailAddresses, func(e string) bool { return strings.EqualFold(e, from) }):
		c.Problem = fmt.Sprintf("the certificate is for %s, but the message is from %s", strings.Join(cert.EmailAddresses, ", "), from)
	default:
		c.Valid = true
	}
	return c
}

// splitSigned returns the signed part of a multipart/signed message
// exactly as it was signed, the signature, and the From address.
func splitSigned(raw []byte) (entity, sig []byte, from string, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, "", fmt.Errorf("not a mail message: %w", err)
	}
	if a, err := mail.ParseAddress(msg.Header.Get("From")); err == nil {
		from = a.Address
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/signed" || params["boundary"] == "" {
		return nil, nil, "", errors.New("not a multipart/signed message")
	}
	delim := []byte("\r\n--" + params["boundary"])
	// The body starts after the header; the first delimiter may start it.
	body := raw[len(raw)-bodyLen(msg):]
	parts := bytes.Split(append([]byte("\r\n"), body...), delim)
	if len(parts) < 4 {
		return nil, nil, "", errors.New("the signed message lacks its parts")
	}
	entity = bytes.TrimPrefix(parts[1], []byte("\r\n"))
	sigPart := bytes.TrimPrefix(parts[2], []byte("\r\n"))
	_, b64, ok := bytes.Cut(sigPart, []byte("\r\n\r\n"))
	if !ok {
		return nil, nil, "", errors.New("the signature part is empty")
	}
	sig, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b64)), ""))
	if err != nil {
		return nil, nil, "", errors.New("the signature is not base64")
	}
	return entity, sig, from, nil
}

func bodyLen(m *mail.Message) int {
	var b bytes.Buffer
	b.ReadFrom(m.Body)
	return b.Len()
}

type signerInfo struct {
	Version     int
	SID         asn1.RawValue
	DigestAlg   pkix.AlgorithmIdentifier
	SignedAttrs asn1.RawValue `asn1:"optional,tag:0"`
	SigAlg      pkix.AlgorithmIdentifier
	Signature   []byte
	Unsigned    asn1.RawValue `asn1:"optional,tag:1"`
}

type signedData struct {
	Version    int
	DigestAlgs asn1.RawValue
	Encap      struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"optional,explicit,tag:0"`
	}
	Certs   asn1.RawValue `asn1:"optional,tag:0"`
	CRLs    asn1.RawValue `asn1:"optional,tag:1"`
	Signers []signerInfo  `asn1:"set"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

var (
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	hashByOID        = map[string]crypto.Hash{"2.16.840.1.101.3.4.2.1": crypto.SHA256, "2.16.840.1.101.3.4.2.2": crypto.SHA384, "2.16.840.1.101.3.4.2.3": crypto.SHA512}
)

// verifyCMS checks a detached CMS signature over content. It returns the
// signer's certificate whenever it was found, with an error that says
// what does not hold, and the signing time if the signature carries one.
func verifyCMS(der, content []byte) (*x509.Certificate, time.Time, error) {
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	var sd signedData
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, time.Time{}, errors.New("the signature is not CMS")
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(sd.Signers) != 1 {
		return nil, time.Time{}, errors.New("the signature is not a SignedData with one signer")
	}
	certs, err := x509.ParseCertificates(sd.Certs.Bytes)
	if err != nil {
		return nil, time.Time{}, errors.New("the signature carries a broken certificate")
	}
	si := sd.Signers[0]
	cert := findSigner(certs, si.SID)
	if cert == nil {
		return nil, time.Time{}, errors.New("the signer's certificate is not in the message")
	}
	h, ok := hashByOID[si.DigestAlg.Algorithm.String()]
	if !ok || len(si.SignedAttrs.FullBytes) == 0 {
		return cert, time.Time{}, errors.New("the signature uses an unknown hash or has no signed attributes")
	}
	// The signature covers the attributes encoded as a SET, not as [0].
	signed := slices.Clone(si.SignedAttrs.FullBytes)
	signed[0] = 0x31
	var attrs []attribute
	if _, err := asn1.UnmarshalWithParams(signed, &attrs, "set"); err != nil {
		return cert, time.Time{}, errors.New("the signed attributes are broken")
	}
	var digest []byte
	var at time.Time
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidMessageDigest):
			asn1.Unmarshal(a.Values.Bytes, &digest)
		case a.Type.Equal(oidSigningTime):
			asn1.Unmarshal(a.Values.Bytes, &at)
		}
	}
	hh := h.New()
	hh.Write(content)
	if !bytes.Equal(digest, hh.Sum(nil)) {
		return cert, at, errors.New("the message was changed after it was signed")
	}
	if err := cert.CheckSignature(sigAlg(cert, si.SigAlg.Algorithm, h), signed, si.Signature); err != nil {
		return cert, at, errors.New("the signature does not match the signer's key")
	}
	return cert, at, nil
}

func findSigner(certs []*x509.Certificate, sid asn1.RawValue) *x509.Certificate {
	var ias struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	if _, err := asn1.Unmarshal(sid.FullBytes, &ias); err == nil && ias.Serial != nil {
		for _, c := range certs {
			if bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) && c.SerialNumber.Cmp(ias.Serial) == 0 {
				return c
			}
		}
	}
	if sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 {
		for _, c := range certs {
			if bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				return c
			}
		}
	}
	return nil
}

var oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}

// sigAlg is the x509 algorithm for a signer's key, its signature OID and
// its digest.
func sigAlg(cert *x509.Certificate, oid asn1.ObjectIdentifier, h crypto.Hash) x509.SignatureAlgorithm {
	i := map[crypto.Hash]int{crypto.SHA256: 0, crypto.SHA384: 1, crypto.SHA512: 2}[h]
	switch {
	case cert.PublicKeyAlgorithm == x509.ECDSA:
		return []x509.SignatureAlgorithm{x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512}[i]
	case oid.Equal(oidRSAPSS):
		return []x509.SignatureAlgorithm{x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS}[i]
	}
	return []x509.SignatureAlgorithm{x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA}[i]
}
