package p12

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bundle makes a .p12 with openssl, the judge of what a real bundle is.
func bundle(t *testing.T, extra ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing")
		}
		t.Skip("openssl is missing")
	}
	dir := t.TempDir()
	key, cert, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "b.p12")
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Bob", "-days", "30"},
		append([]string{"pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw"}, extra...),
	} {
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, b)
		}
	}
	b, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"openssl3 default", nil},
		{"legacy", []string{"-legacy"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := bundle(t, tt.args...)
			b, err := Decode(context.Background(), data, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if b.Cert.Subject.CommonName != "Bob" || b.Key == nil {
				t.Fatalf("decoded %+v", b)
			}
			if _, err := Decode(context.Background(), data, "wrong"); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
	for _, junk := range [][]byte{nil, []byte("junk"), make([]byte, MaxSize+1)} {
		if _, err := Decode(context.Background(), junk, "pw"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("junk of %d bytes: %v", len(junk), err)
		}
	}
}

// withMACIterations rewrites a bundle's MAC iteration count, which every
// decoder runs before it can tell a wrong password.
func withMACIterations(t *testing.T, data []byte, n int64) []byte {
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
		t.Fatal(err)
	}
	pfx.MacData.Iter = n
	out, err := asn1.Marshal(pfx)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHugeIterationCountsRefusedAtOnce(t *testing.T) {
	data := bundle(t)
	for _, n := range []int64{1<<31 - 1, 1 << 62, MaxIterations + 1, 0, -5} {
		start := time.Now()
		_, err := Decode(context.Background(), withMACIterations(t, data, n), "pw")
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("%d iterations: %v", n, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d iterations refused after %s", n, d)
		}
	}
	// A visible key bag over the cap is refused as well.
	_, err := Decode(context.Background(), hiddenKeyBundle(t, false), "pw")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("visible key bag: %v", err)
	}
}

// A key bag inside an encrypted container shows its iteration count only
// after decryption; the decoding stops with the request's context.
func TestHiddenIterationCountStopsWithContext(t *testing.T) {
	data := hiddenKeyBundle(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := Decode(ctx, data, "pw")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	// Decode returns once the child has been killed and reaped: no
	// goroutine or process is left deriving keys.
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stopped after %s", d)
	}
}

// hiddenKeyBundle builds a bundle, password "pw", whose only key bag asks
// for 2^31-1 PBKDF2 iterations; with encrypted, the bag sits in a PBES2
// container. The MAC is PBMAC1, so the whole file checks out.
func hiddenKeyBundle(t *testing.T, encrypted bool) []byte {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oidSHA256HMAC := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	pbkdf2Alg := func(iter int64, keyLen int) pkix.AlgorithmIdentifier {
		p := must(asn1.Marshal(pbkdf2Params{Salt: asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte("saltsalt")}, Iterations: iter, KeyLength: keyLen,
			PRF: pkix.AlgorithmIdentifier{Algorithm: oidSHA256HMAC, Parameters: asn1.NullRawValue}}))
		return pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: p}}
	}
	iv := make([]byte, 16)
	pbes2 := func(iter int64) pkix.AlgorithmIdentifier {
		scheme := pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(iv))}}
		p := must(asn1.Marshal(pbes2Params{KDF: pbkdf2Alg(iter, 0), Scheme: scheme}))
		return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: p}}
	}
	explicit := func(der []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
	}
	type bag struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	type ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}
	keyInfo := must(asn1.Marshal(encryptedKeyInfo{Algorithm: pbes2(1<<31 - 1), Data: make([]byte, 32)}))
	bags := must(asn1.Marshal([]bag{{oidShroudedKey, explicit(keyInfo)}}))
	content := ci{oidData, explicit(must(asn1.Marshal(bags)))}
	if encrypted {
		key := must(pbkdf2.Key(sha256.New, "pw", []byte("saltsalt"), 1, 32))
		block, _ := aes.NewCipher(key)
		pad := 16 - len(bags)%16
		plain := append(append([]byte{}, bags...), bytesOf(byte(pad), pad)...)
		ct := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
		var ed encryptedData
		ed.Info.ContentType, ed.Info.Algorithm, ed.Info.Content = oidData, pbes2(1), ct
		content = ci{oidEncryptedData, explicit(must(asn1.Marshal(ed)))}
	}
	authSafe := must(asn1.Marshal([]ci{content}))
	macKey := must(pbkdf2.Key(sha256.New, "pw", []byte("saltsalt"), 1, 32))
	h := hmac.New(sha256.New, macKey)
	h.Write(authSafe)
	macParams := must(asn1.Marshal(pbes2Params{KDF: pbkdf2Alg(1, 32), Scheme: pkix.AlgorithmIdentifier{Algorithm: oidSHA256HMAC, Parameters: asn1.NullRawValue}}))
	var md macData
	md.Mac.Algorithm = pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: macParams}}
	md.Mac.Digest, md.MacSalt, md.Iterations = h.Sum(nil), []byte("unused"), 1
	return must(asn1.Marshal(struct {
		Version  int
		AuthSafe ci
		MacData  macData
	}{3, ci{oidData, explicit(must(asn1.Marshal(authSafe)))}, md}))
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
