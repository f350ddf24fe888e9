package cms

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// Encrypt makes an S/MIME EnvelopedData (AES-256-CBC) or, with gcm,
// AuthEnvelopedData (AES-256-GCM) of content for the holder of cert. RSA
// recipients get key transport, EC recipients ephemeral-static ECDH with
// the X9.63 SHA-256 KDF and AES-256 key wrap. The demo webmail uses it to
// send the user an encrypted message.
func Encrypt(content []byte, cert *x509.Certificate, gcm bool) ([]byte, error) {
	cek := make([]byte, 32)
	rand.Read(cek)
	rid, _ := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber})
	var ri []byte
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		//lint:ignore SA1019 S/MIME key transport as mail clients write it (RFC 5652 KTRI); the card decrypts it
		ek, err := rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
		if err != nil {
			return nil, err
		}
		ri, err = asn1.Marshal(struct {
			Version int
			RID     asn1.RawValue
			Alg     pkix.AlgorithmIdentifier
			EK      []byte
		}{0, asn1.RawValue{FullBytes: rid}, pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, ek})
		if err != nil {
			return nil, err
		}
	case *ecdsa.PublicKey:
		var err error
		if ri, err = kari(pub, rid, cek); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("recipient key %T: %w", pub, ErrInvalid)
	}
	block, _ := aes.NewCipher(cek)
	var algo pkix.AlgorithmIdentifier
	var ciphertext, mac []byte
	if gcm {
		nonce := make([]byte, 12)
		rand.Read(nonce)
		aead, _ := cipher.NewGCM(block)
		sealed := aead.Seal(nil, nonce, content, nil)
		ciphertext, mac = sealed[:len(sealed)-16], sealed[len(sealed)-16:]
		params, _ := asn1.Marshal(struct {
			Nonce  []byte
			ICVLen int
		}{nonce, 16})
		algo = pkix.AlgorithmIdentifier{Algorithm: oidAES256GCM, Parameters: asn1.RawValue{FullBytes: params}}
	} else {
		iv := make([]byte, aes.BlockSize)
		rand.Read(iv)
		pad := aes.BlockSize - len(content)%aes.BlockSize
		padded := append(append([]byte{}, content...), make([]byte, pad)...)
		for i := len(content); i < len(padded); i++ {
			padded[i] = byte(pad)
		}
		ciphertext = make([]byte, len(padded))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, padded)
		ivDER, _ := asn1.Marshal(iv)
		algo = pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}}
	}
	eci, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Alg     pkix.AlgorithmIdentifier
		Content asn1.RawValue
	}{oidData, algo, asn1.RawValue{Class: 2, Tag: 0, Bytes: ciphertext}})
	if err != nil {
		return nil, err
	}
	version := 0
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); ok || gcm {
		version = 2
	}
	v, _ := asn1.Marshal(version)
	body := append(append(v, mustSet(ri)...), eci...)
	outer := oidEnvelopedData
	if gcm {
		m, _ := asn1.Marshal(mac)
		body = append(body, m...)
		outer = oidAuthEnveloped
	}
	seq, _ := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: body})
	return asn1.Marshal(contentInfo{Type: outer, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: seq}})
}

func mustSet(b []byte) []byte {
	out, _ := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: b})
	return out
}

// kari builds a KeyAgreeRecipientInfo for an EC recipient.
func kari(pub *ecdsa.PublicKey, rid, cek []byte) ([]byte, error) {
	peer, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("recipient key: %w", ErrInvalid)
	}
	eph, err := peer.Curve().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(peer)
	if err != nil {
		return nil, err
	}
	wrapDER, _ := asn1.Marshal(pkix.AlgorithmIdentifier{Algorithm: oidAES256KW})
	kek := x963KDF(crypto.SHA256, z, eccSharedInfo(wrapDER, nil, 256), 32)
	ek, err := keyWrap(kek, cek)
	if err != nil {
		return nil, err
	}
	oidEC := asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	point := eph.PublicKey().Bytes()
	origKey, _ := asn1.Marshal(struct {
		Alg pkix.AlgorithmIdentifier
		Key asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oidEC}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	origKey[0] = 0xa1 // [1] IMPLICIT originatorKey
	orig, _ := asn1.Marshal(asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: origKey})
	kea, _ := asn1.Marshal(pkix.AlgorithmIdentifier{Algorithm: oidECDHSHA256, Parameters: asn1.RawValue{FullBytes: wrapDER}})
	ekDER, _ := asn1.Marshal(ek)
	rek, _ := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: append(append([]byte{}, rid...), ekDER...)})
	reks, _ := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: rek})
	v, _ := asn1.Marshal(3)
	body := append(append(append(v, orig...), kea...), reks...)
	return asn1.Marshal(asn1.RawValue{Class: 2, Tag: 1, IsCompound: true, Bytes: body})
}
