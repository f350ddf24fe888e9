package csr

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ErrWrongPassword is returned when a PKCS#12 bundle's password is wrong.
var ErrWrongPassword = errors.New("the bundle's password is wrong")

// MaxPKCS12 bounds the size of a bundle we are willing to parse.
const MaxPKCS12 = 256 << 10

// DecodePKCS12 opens a .p12/.pfx bundle: modern ones (PBES2 with AES, the
// OpenSSL 3 default) and legacy ones (3DES, RC2).
func DecodePKCS12(data []byte, password string) (crypto.PrivateKey, *x509.Certificate, []*x509.Certificate, error) {
	if len(data) == 0 || len(data) > MaxPKCS12 {
		return nil, nil, nil, fmt.Errorf("a PKCS#12 bundle must be 1 byte to %d KiB: %w", MaxPKCS12>>10, ErrInvalid)
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, nil, nil, ErrWrongPassword
	case err != nil:
		return nil, nil, nil, fmt.Errorf("read PKCS#12 bundle: %v: %w", err, ErrInvalid)
	case cert == nil || key == nil:
		return nil, nil, nil, fmt.Errorf("the bundle holds no key and certificate: %w", ErrInvalid)
	}
	return key, cert, chain, nil
}
