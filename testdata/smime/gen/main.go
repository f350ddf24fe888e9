// Command gen writes the damaged part of the S/MIME corpus: each file is a
// good message from another program (see ../make.sh) with one thing broken,
// and the manifest line saying which error smime.decrypt must give.
//
// Usage, from the module root: go run ./testdata/smime/gen testdata/smime
package main

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

var dir string

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gen DIR")
	}
	dir = os.Args[1]
	var manifest []string
	add := func(name, rcpt, want string, eml []byte) {
		if err := os.WriteFile(filepath.Join(dir, "damaged", name+".eml"), eml, 0o644); err != nil {
			log.Fatal(err)
		}
		manifest = append(manifest, fmt.Sprintf("%s.eml %s %s", name, rcpt, want))
	}

	// A flipped byte in the RSA-encrypted content key, PKCS #1 v1.5 and OAEP.
	for _, src := range []string{"openssl-cms-aes128-cbc", "openssl-cms-oaep-sha256"} {
		h, der := load(src)
		flip(der, ktriKey(der), 17)
		add("rsa-key-"+strings.TrimPrefix(src, "openssl-cms-"), "rsa", "invalid_params", mail(h, der))
	}
	// The GCM tag altered.
	h, der := load("openssl-cms-gcm")
	flip(der, mac(der), 3)
	add("gcm-tag", "rsa", "invalid_params", mail(h, der))
	// A CBC block altered so that the padding breaks.
	h, der = load("openssl-cms-aes128-cbc")
	ct := ciphertext(der)
	flip(der, ct, len(ct)-17)
	add("cbc-padding", "rsa", "invalid_params", mail(h, der))
	// Streaming BER cut short: no end-of-contents.
	h, der = load("openssl-cms-aes256-cbc-stream")
	add("stream-truncated", "rsa", "invalid_params", mail(h, der[:len(der)-40]))
	// A chunk of pkijs's encrypted content that is not an OCTET STRING.
	h, der = load("pkijs-rsa-oaep-sha256-aes-cbc-256")
	i := bytes.Index(der, []byte{0xa0, 0x80, 0x04, 0x82, 0x04, 0x00})
	if i < 0 {
		log.Fatal("pkijs: no 1024-byte chunk")
	}
	der[i+5] = 0x01 // a chunk one byte longer than it is
	add("chunk-length", "rsa", "invalid_params", mail(h, der))
	// The sender's ephemeral ECDH point moved off the curve, and the
	// wrapped key altered.
	h, der = load("openssl-cms-ecdh-p256-cbc")
	flip(der, originatorPoint(der), 20)
	add("ecdh-point", "p256", "invalid_params", mail(h, der))
	h, der = load("openssl-cms-ecdh-p384-cbc")
	flip(der, kariKey(der), 5)
	add("ecdh-wrapped-key", "p384", "invalid_params", mail(h, der))
	// Damaged transfer encoding, and hostile nesting.
	raw, err := os.ReadFile(filepath.Join(dir, "good", "openssl-smime-aes256.eml"))
	check(err)
	j := bytes.Index(raw, []byte("\n\n")) + 40 // openssl ends lines with LF
	if j < 40 {
		log.Fatal("openssl-smime-aes256: no body")
	}
	raw[j] = '!'
	add("base64", "rsa", "invalid_params", raw)
	h, _ = load("openssl-smime-aes256")
	add("deep-nesting", "rsa", "invalid_params", mail(h, bytes.Repeat([]byte{0x30, 0x80}, 200)))

	old, err := os.ReadFile(filepath.Join(dir, "manifest.txt"))
	check(err)
	out := string(old) + strings.Join(manifest, "\n") + "\n"
	check(os.WriteFile(filepath.Join(dir, "manifest.txt"), []byte(out), 0o644))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// load returns the header block and the CMS of good/NAME.eml.
func load(name string) (header string, der []byte) {
	raw, err := os.ReadFile(filepath.Join(dir, "good", name+".eml"))
	check(err)
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	head, body, ok := strings.Cut(s, "\n\n")
	if !ok {
		log.Fatalf("%s: no body", name)
	}
	der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return head, der
}

func mail(header string, der []byte) []byte {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(header, "\n", "\r\n") + "\r\n\r\n")
	s := base64.StdEncoding.EncodeToString(der)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return []byte(b.String())
}

// flip changes byte at of value, found in der by its (random, so unique)
// bytes.
func flip(der, value []byte, at int) {
	i := bytes.Index(der, value)
	if i < 0 || at >= len(value) {
		log.Fatal("value not found")
	}
	der[i+at] ^= 0x5a
}

func children(b []byte) []asn1.RawValue {
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		check(err)
		out = append(out, v)
		b = rest
	}
	return out
}

// envelope returns the members of the EnvelopedData in a DER ContentInfo.
func envelope(der []byte) []asn1.RawValue {
	ci := children(children(der)[0].Bytes)
	return children(children(ci[1].Bytes)[0].Bytes)
}

func ktriKey(der []byte) []byte {
	ktri := children(children(envelope(der)[1].Bytes)[0].Bytes)
	return ktri[3].Bytes
}

func kari(der []byte) []asn1.RawValue {
	return children(children(envelope(der)[1].Bytes)[0].Bytes)
}

func originatorPoint(der []byte) []byte {
	okey := children(kari(der)[1].Bytes)[0] // [1] originatorKey
	var bits asn1.BitString
	_, err := asn1.Unmarshal(children(okey.Bytes)[1].FullBytes, &bits)
	check(err)
	return bits.Bytes
}

func kariKey(der []byte) []byte {
	k := kari(der)
	reks := children(k[len(k)-1].Bytes)
	return children(reks[0].Bytes)[1].Bytes
}

func ciphertext(der []byte) []byte {
	eci := children(envelope(der)[2].Bytes)
	return eci[2].Bytes
}

func mac(der []byte) []byte {
	env := envelope(der)
	return env[len(env)-1].Bytes
}
