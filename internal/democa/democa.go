// Package democa is the small certificate authority behind the demo
// portal. It issues real S/MIME certificates (RFC 8550 profile: EKU
// emailProtection, the address in the subjectAltName) from an intermediate
// under a demo root, so that every step of an enrollment can be checked by
// openssl and by mail clients. It is a demo: its keys live in files.
package democa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Validity is the lifetime of an issued certificate, as at Certum.
const Validity = 730 * 24 * time.Hour

// CA is a root and an intermediate that issues end-entity certificates.
type CA struct {
	Root, Intermediate *x509.Certificate
	key                crypto.Signer // the intermediate's
	now                func() time.Time
}

// Load reads the CA from dir, creating it on first use.
func Load(dir string) (*CA, error) {
	ca, err := load(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := create(dir); err != nil {
			return nil, fmt.Errorf("create demo ca: %w", err)
		}
		ca, err = load(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load demo ca from %s: %w", dir, err)
	}
	return ca, nil
}

func load(dir string) (*CA, error) {
	root, err := readCert(filepath.Join(dir, "root.pem"))
	if err != nil {
		return nil, err
	}
	inter, err := readCert(filepath.Join(dir, "intermediate.pem"))
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "intermediate.key"))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("intermediate.key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("intermediate.key is not a signing key")
	}
	return &CA{Root: root, Intermediate: inter, key: signer, now: time.Now}, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s is not PEM", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func skid(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha1.Sum(der)
	return sum[:]
}

func create(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rootTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "cardbridge Demo Root CA", Organization: []string{"cardbridge demo"}},
		NotBefore: now, NotAfter: now.Add(20 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
		SubjectKeyId: skid(&rootKey.PublicKey),
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	root, _ := x509.ParseCertificate(rootDER)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "cardbridge Demo S/MIME CA", Organization: []string{"cardbridge demo"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		SubjectKeyId: skid(&interKey.PublicKey),
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(interKey)
	files := map[string]*pem.Block{
		"root.pem":         {Type: "CERTIFICATE", Bytes: rootDER},
		"intermediate.pem": {Type: "CERTIFICATE", Bytes: interDER},
		"intermediate.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	}
	for name, blk := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ErrBadRequest is returned for a CSR the CA will not sign.
var ErrBadRequest = errors.New("bad certificate request")

// Issue checks a PEM CSR and signs an S/MIME certificate for it. The CSR
// must carry at least one e-mail address, in its subjectAltName or its
// subject.
func (ca *CA) Issue(csrPEM []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM certificate request", ErrBadRequest)
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify: %v", ErrBadRequest, err)
	}
	emails := req.EmailAddresses
	if len(emails) == 0 {
		return nil, fmt.Errorf("%w: an S/MIME certificate needs an e-mail address in the subjectAltName", ErrBadRequest)
	}
	usage := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	switch pub := req.PublicKey.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA keys must have at least 2048 bits", ErrBadRequest)
		}
		usage |= x509.KeyUsageKeyEncipherment
	case *ecdsa.PublicKey:
		usage |= x509.KeyUsageKeyAgreement
	default:
		return nil, fmt.Errorf("%w: unsupported key type", ErrBadRequest)
	}
	now := ca.now().Add(-5 * time.Minute)
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: req.Subject,
		NotBefore: now, NotAfter: now.Add(Validity),
		KeyUsage: usage, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, EmailAddresses: emails,
		SubjectKeyId: skid(req.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, req.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Verify checks that cert chains to the demo root for e-mail protection.
func (ca *CA) Verify(cert *x509.Certificate) error {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root)
	inters.AddCert(ca.Intermediate)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
	return err
}

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) string {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return string(out)
}
