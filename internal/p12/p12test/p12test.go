// Package p12test builds hostile PKCS#12 bundles for tests: ones that ask
// for more key-derivation work than any real exporter does.
package p12test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMACSHA256    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// WithMACIterations rewrites a bundle's MAC iteration count, which every
// decoder runs before it can tell a wrong password.
func WithMACIterations(data []byte, n int64) ([]byte, error) {
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac  asn1.RawValue
			Salt []byte
			Iter int64
		}
	}
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil, err
	}
	pfx.MacData.Iter = n
	return asn1.Marshal(pfx)
}

type ci struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type bag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int64
	KeyLength  int `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type builder struct{ err error }

func (b *builder) der(v any) []byte {
	out, err := asn1.Marshal(v)
	if err != nil && b.err == nil {
		b.err = err
	}
	return out
}

func explicit(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

func (b *builder) pbkdf2(iter int64, keyLen int) pkix.AlgorithmIdentifier {
	p := b.der(pbkdf2Params{Salt: []byte("saltsalt"), Iterations: iter, KeyLength: keyLen,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})
	return pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: p}}
}

func (b *builder) pbes2(iter int64, iv []byte) pkix.AlgorithmIdentifier {
	scheme := pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: b.der(iv)}}
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: b.der(pbes2Params{KDF: b.pbkdf2(iter, 0), Scheme: scheme})}}
}

// CostlyKey builds a bundle, with the given password, whose only key bag
// asks for iterations PBKDF2 iterations. With hidden, the bag sits in a
// PBES2 container, so that its count shows only after decryption. The MAC
// (PBMAC1) checks out, so a decoder goes all the way to the key.
func CostlyKey(password string, iterations int64, hidden bool) ([]byte, error) {
	b := &builder{}
	iv := make([]byte, aes.BlockSize)
	keyInfo := b.der(struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}{b.pbes2(iterations, iv), make([]byte, 32)})
	bags := b.der([]bag{{oidShroudedKey, explicit(keyInfo)}})
	content := ci{oidData, explicit(b.der(bags))}
	if hidden {
		key, err := pbkdf2.Key(sha256.New, password, []byte("saltsalt"), 1, 32)
		if err != nil {
			return nil, err
		}
		block, _ := aes.NewCipher(key)
		pad := aes.BlockSize - len(bags)%aes.BlockSize
		plain := append([]byte{}, bags...)
		for range pad {
			plain = append(plain, byte(pad))
		}
		ct := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
		var ed struct {
			Version int
			Info    struct {
				ContentType asn1.ObjectIdentifier
				Algorithm   pkix.AlgorithmIdentifier
				Content     []byte `asn1:"tag:0,optional"`
			}
		}
		ed.Info.ContentType, ed.Info.Algorithm, ed.Info.Content = oidData, b.pbes2(1, iv), ct
		content = ci{oidEncryptedData, explicit(b.der(ed))}
	}
	authSafe := b.der([]ci{content})
	macKey, err := pbkdf2.Key(sha256.New, password, []byte("saltsalt"), 1, 32)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, macKey)
	h.Write(authSafe)
	macAlg := pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: b.der(pbes2Params{KDF: b.pbkdf2(1, 32),
		Scheme: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})}}
	type digestInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	type macData struct {
		Mac        digestInfo
		MacSalt    []byte
		Iterations int
	}
	out := b.der(struct {
		Version  int
		AuthSafe ci
		MacData  macData
	}{3, ci{oidData, explicit(b.der(authSafe))}, macData{digestInfo{macAlg, h.Sum(nil)}, []byte("unused"), 1}})
	if b.err != nil {
		return nil, fmt.Errorf("build bundle: %w", b.err)
	}
	return out, nil
}
