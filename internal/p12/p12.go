// Package p12 opens PKCS#12 (.p12/.pfx) bundles that a page or a user hands
// to cardbridge: modern ones (PBES2 with AES, the OpenSSL 3 default) and
// legacy ones (3DES, RC2).
//
// A bundle names its own key-derivation work factor, so a hostile one can
// ask for years of CPU. Two things stop that. Every iteration count that
// can be read before decryption is checked against a cap first (see
// cost.go), so such bundles are refused at once. What only decryption
// reveals (a key bag inside an encrypted container) is bounded by running
// the decoder in a child process (see child.go) that is killed when the
// request's context ends or decodeTimeout passes: the third-party decoder
// cannot be interrupted in-process, and an abandoned goroutine would burn
// a core until it finished.
package p12

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
)

var (
	// ErrWrongPassword is returned when a bundle's password is wrong.
	ErrWrongPassword = errors.New("the bundle's password is wrong")
	// ErrInvalid marks a bundle cardbridge will not open; the message says
	// why.
	ErrInvalid = errors.New("invalid PKCS#12 bundle")
)

// MaxSize bounds the size of a bundle we are willing to parse.
const MaxSize = 256 << 10

// Bundle is what a bundle holds: one key, its certificate, and the other
// certificates (CA certificates, in the usual case).
type Bundle struct {
	Key   crypto.PrivateKey
	Cert  *x509.Certificate
	Chain []*x509.Certificate
}

// Decode opens a bundle under ctx: when ctx ends, the decoding stops and
// its CPU is given back.
func Decode(ctx context.Context, data []byte, password string) (*Bundle, error) {
	if len(data) == 0 || len(data) > MaxSize {
		return nil, fmt.Errorf("a PKCS#12 bundle must be 1 byte to %d KiB: %w", MaxSize>>10, ErrInvalid)
	}
	if err := checkCost(data, password == ""); err != nil {
		return nil, err
	}
	b, err := decodeInChild(ctx, data, password)
	if err != nil {
		return nil, err
	}
	if b.Cert == nil || b.Key == nil {
		return nil, fmt.Errorf("the bundle holds no key and certificate: %w", ErrInvalid)
	}
	return b, nil
}
