package cms

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/democa"
)

// goOpener opens with an in-memory key; the daemon opens on the card.
type goOpener struct{ key crypto.Signer }

func (g goOpener) DecryptKey(ek []byte, oaep crypto.Hash) ([]byte, error) {
	k := g.key.(*rsa.PrivateKey)
	if oaep != 0 {
		return rsa.DecryptOAEP(oaep.New(), nil, k, ek, nil)
	}
	//lint:ignore SA1019 the tests play the sender of PKCS #1 v1.5 key transport
	return rsa.DecryptPKCS1v15(nil, k, ek)
}

func (g goOpener) ECDH(peer []byte) ([]byte, error) {
	k, err := g.key.(*ecdsa.PrivateKey).ECDH()
	if err != nil {
		return nil, err
	}
	p, err := ecdh.P256().NewPublicKey(peer)
	if err != nil {
		return nil, err
	}
	return k.ECDH(p)
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func open(t *testing.T, msg []byte, cert *x509.Certificate, key crypto.Signer) []byte {
	t.Helper()
	env, err := ParseEnvelope(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range env.Recipients {
		if r.Matches(cert) {
			out, err := env.Open(r, goOpener{key})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatal("not a recipient")
	return nil
}

func TestEnvelopesBothWays(t *testing.T) {
	ca, err := democa.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	content := []byte("Content-Type: text/plain\r\n\r\nsecret message\r\n")
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa", rsaKey}, {"ec", ecKey}} {
		cert := issue(t, ca, tc.key)
		dir := t.TempDir()
		certPath := write(t, dir, "cert.pem", []byte(democa.PEM(cert)))
		keyPath := write(t, dir, "key.pem", keyPEM(t, tc.key))
		contentPath := write(t, dir, "content", content)
		// openssl encrypts, we decrypt: S/MIME CBC, CMS CBC, CMS GCM, all DER.
		for _, args := range [][]string{
			{"smime", "-encrypt", "-aes256", "-binary", "-outform", "DER", "-in", contentPath, certPath},
			{"cms", "-encrypt", "-aes-128-cbc", "-binary", "-outform", "DER", "-in", contentPath, certPath},
			{"cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER", "-in", contentPath, certPath},
			// Streaming BER: indefinite lengths and the content in chunks.
			{"smime", "-encrypt", "-stream", "-aes256", "-binary", "-outform", "DER", "-in", contentPath, certPath},
			{"cms", "-encrypt", "-stream", "-aes-128-cbc", "-binary", "-outform", "DER", "-in", contentPath, certPath},
			{"cms", "-encrypt", "-stream", "-aes-256-gcm", "-binary", "-outform", "DER", "-in", contentPath, certPath},
		} {
			if args[0] == "smime" && tc.name == "ec" {
				continue // openssl smime (PKCS #7) cannot encrypt to EC keys
			}
			out, err := exec.Command("openssl", args...).Output()
			if err != nil {
				t.Fatalf("%s: openssl %s: %v", tc.name, strings.Join(args, " "), err)
			}
			if got := open(t, out, cert, tc.key); string(got) != string(content) {
				t.Fatalf("%s %v: got %q", tc.name, args[:3], got)
			}
		}
		// We encrypt, openssl decrypts.
		for _, gcm := range []bool{false, true} {
			msg, err := Encrypt(content, cert, gcm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", write(t, dir, "msg.der", msg), "-recip", certPath, "-inkey", keyPath).CombinedOutput()
			if err != nil || string(out) != string(content) {
				t.Fatalf("%s gcm=%v: openssl cms -decrypt: %v %q", tc.name, gcm, err, out)
			}
			if got := open(t, msg, cert, tc.key); string(got) != string(content) {
				t.Fatalf("%s gcm=%v round trip: %q", tc.name, gcm, got)
			}
		}
	}
}

func TestKeyWrapRFC3394(t *testing.T) {
	// RFC 3394, section 4.6: 256-bit key data with a 256-bit KEK.
	kek := mustHex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	key := mustHex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	want := "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
	got, _ := keyWrap(kek, key)
	if strings.ToUpper(hexOf(got)) != want {
		t.Fatalf("wrap = %X", got)
	}
	back, err := keyUnwrap(kek, got)
	if err != nil || hexOf(back) != hexOf(key) {
		t.Fatal("unwrap failed")
	}
	got[3] ^= 1
	if _, err := keyUnwrap(kek, got); err == nil {
		t.Fatal("tampered wrap accepted")
	}
}

func TestCorruptEnvelopes(t *testing.T) {
	for _, in := range [][]byte{nil, {0x30}, {0x30, 0x80}, []byte("not asn.1 at all"), {0x30, 0x03, 0x02, 0x01, 0x00}} {
		if _, err := ParseEnvelope(in); err == nil {
			t.Errorf("ParseEnvelope(%x) accepted", in)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 0x41, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := ParseEnvelope(in)
		if err == nil {
			for _, r := range env.Recipients {
				r.Matches(&x509.Certificate{})
			}
		}
		toDER(in)
	})
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'A') + 10
			}
		}
		b[i] = v
	}
	return b
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return strings.ToUpper(string(out))
}
