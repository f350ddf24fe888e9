package p12

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// The caps on key-derivation work. Real exporters ask for far less: 2048
// iterations (OpenSSL), 2000 (Windows), 10000 (Java), 600000 at most for
// PBMAC1 profiles. As in .NET's PKCS#12 loader limits, a count per
// derivation and a total over the file are enforced; beyond either, a
// bundle is refused before any derivation runs. At these caps, opening a
// bundle costs at most a few seconds of CPU.
const (
	MaxIterations = 1_000_000
	// maxWork bounds the sum over all derivations a bundle needs (MAC,
	// containers, key bags), each weighted by how many times the decoder
	// runs it.
	maxWork = 4_000_000
)

// Object identifiers the cost check reads; RFC 7292 and RFC 8018.
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPKCS12PBE     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // .1 to .6
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
)

type pfxPDU struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type macData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int64 `asn1:"optional,default:1"`
}

type encryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue   `asn1:"tag:0,explicit"`
	Attributes []asn1.RawValue `asn1:"set,optional"`
}

type encryptedKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbeParams struct {
	Salt       []byte
	Iterations int64
}

// pbes2Params also stands for PBMAC1's parameters: a KDF, then a scheme.
type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int64
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// checkCost reads every iteration count a bundle shows before decryption
// and refuses the bundle when one, or their sum, is over the caps. It is
// at least as lenient as the decoder: what it cannot read is left for the
// decoder to refuse, with no derivation counted.
func checkCost(data []byte, emptyPassword bool) error {
	var pfx pfxPDU
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return fmt.Errorf("read PKCS#12 bundle: %v: %w", err, ErrInvalid)
	}
	w := &work{}
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		runs := int64(1)
		if emptyPassword {
			runs = 2 // decoders try the empty password in two encodings
		}
		if pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			if err := w.pbes2(pfx.MacData.Mac.Algorithm, runs); err != nil {
				return err
			}
		} else if err := w.add(pfx.MacData.Iterations, runs); err != nil {
			return err
		}
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil
	}
	var cis []contentInfo
	if _, err := asn1.Unmarshal(authSafe, &cis); err != nil {
		return nil
	}
	for _, ci := range cis {
		switch {
		case ci.ContentType.Equal(oidData):
			var bags []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &bags); err == nil {
				if err := w.bags(bags); err != nil {
					return err
				}
			}
		case ci.ContentType.Equal(oidEncryptedData):
			// Its bags are known only after decryption: the child
			// process's deadline bounds those.
			var ed encryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err == nil {
				if err := w.alg(ed.Info.Algorithm); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type work struct{ total int64 }

func (w *work) add(iterations, runs int64) error {
	if iterations < 1 {
		return fmt.Errorf("the bundle asks for %d key-derivation iterations: %w", iterations, ErrInvalid)
	}
	if iterations > MaxIterations {
		return fmt.Errorf("the bundle asks for %d key-derivation iterations; cardbridge opens bundles with at most %d: %w", iterations, MaxIterations, ErrInvalid)
	}
	w.total += iterations * runs
	if w.total > maxWork {
		return fmt.Errorf("the bundle asks for more than %d key-derivation iterations in all: %w", maxWork, ErrInvalid)
	}
	return nil
}

func (w *work) bags(der []byte) error {
	var bags []safeBag
	if _, err := asn1.Unmarshal(der, &bags); err != nil {
		return nil
	}
	for _, b := range bags {
		if !b.ID.Equal(oidShroudedKey) {
			continue
		}
		var k encryptedKeyInfo
		if _, err := asn1.Unmarshal(b.Value.Bytes, &k); err == nil {
			if err := w.alg(k.Algorithm); err != nil {
				return err
			}
		}
	}
	return nil
}

// alg counts the derivations of one encryption algorithm.
func (w *work) alg(a pkix.AlgorithmIdentifier) error {
	switch {
	case a.Algorithm.Equal(oidPBES2):
		// PBKDF2 runs once per block of output: two at most for the
		// key sizes decoders accept (AES-256 with HMAC-SHA-1).
		return w.pbes2(a, 2)
	case len(a.Algorithm) == len(oidPKCS12PBE)+1 && a.Algorithm[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var p pbeParams
		if _, err := asn1.Unmarshal(a.Parameters.FullBytes, &p); err != nil {
			return nil
		}
		return w.add(p.Iterations, 2) // the key, then the IV
	}
	return nil
}

func (w *work) pbes2(a pkix.AlgorithmIdentifier, runs int64) error {
	var p pbes2Params
	if _, err := asn1.Unmarshal(a.Parameters.FullBytes, &p); err != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil
	}
	var k pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err != nil {
		return nil
	}
	return w.add(k.Iterations, runs)
}
