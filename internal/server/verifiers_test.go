package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"mime"
	"os/exec"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// TestSignaturesPassEveryVerifier makes every kind of signature cardbridge
// makes (raw, CMS detached and attached, S/MIME) with every key type, and
// hands each to openssl, gpgsm, pkijs and the strict DER check. A hash
// the page does not name follows the curve.
func TestSignaturesPassEveryVerifier(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, rootPath := newCA(t)
	j := newJudges(t, rootPath)
	document := []byte("%PDF-1.7 a contract\nwith two lines\n")
	for i, tc := range []struct {
		key, alg string // alg "" is the default for the key
		hash     string // the digest algorithm the signature must use
		gpgsm    bool   // gpgsm 2.2 fails P-521 even for openssl's own signatures
	}{
		{"RSA-2048", "RSA-PKCS1-SHA256", "sha256", true},
		{"RSA-2048", "RSA-PSS-SHA256", "sha256", true},
		{"RSA-3072", "RSA-PSS-SHA512", "sha512", true},
		{"EC-P256", "", "sha256", true},
		{"EC-P384", "", "sha384", true},
		{"EC-P521", "", "sha512", false},
	} {
		name := tc.key + " " + tc.alg
		from := fmt.Sprintf("signer%d@example.org", i)
		keyID, certPath := enrolled(t, c, ca, tc.key, from)
		rawAlg := tc.alg
		if rawAlg == "" {
			rawAlg = "ECDSA-" + strings.ToUpper(tc.hash)
		}
		fail := func(kind string, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("%s, %s: %v", name, kind, err)
			}
		}

		// Raw.
		var res protocol.SignResult
		c.mustCall("sign", map[string]any{"keyId": keyID, "algorithm": rawAlg, "data": document}, &res)
		fail("raw: openssl", opensslRawVerify(j, certPath, res.Signature, document, rawAlg, tc.hash))
		fail("raw: pkijs", j.pkijs("raw", j.file("raw.sig", res.Signature), certPath, j.file("doc", document), rawAlg))
		if strings.HasPrefix(rawAlg, "ECDSA") {
			_, err := j.der("ecdsa", res.Signature)
			fail("raw: strict DER", err)
		}

		// CMS, detached and attached; no digestAlgorithm, so the
		// default hash is tested too.
		for _, attached := range []bool{false, true} {
			kind := "cms detached"
			if attached {
				kind = "cms attached"
			}
			params := map[string]any{"keyId": keyID, "format": "cms", "data": document, "attached": attached}
			if tc.alg != "" {
				params["algorithm"] = tc.alg
			}
			c.mustCall("sign", params, &res)
			j.all(t, name+", "+kind, res.Signature, document, attached, tc.hash, tc.gpgsm)
		}

		// A detached CMS from a digest alone, as portals send for large files.
		sum := sha256.Sum256(document)
		if tc.hash == "sha256" {
			c.mustCall("sign", map[string]any{"keyId": keyID, "format": "cms", "digest": sum[:], "digestAlgorithm": "SHA-256", "algorithm": tc.alg}, &res)
			j.all(t, name+", cms from digest", res.Signature, document, false, "sha256", tc.gpgsm)
		}

		// S/MIME, for the default scheme of each key.
		if strings.Contains(tc.alg, "PSS") {
			continue
		}
		msg := "From: Alice <" + from + ">\r\nTo: bob@example.org\r\nSubject: signed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZażółć gęślą jaźń.\r\n"
		var sm protocol.SMIMEResult
		c.mustCall("smime.sign", map[string]any{"message": []byte(msg)}, &sm)
		signed := string(sm.Message)
		if !strings.Contains(signed, "micalg=sha-"+strings.TrimPrefix(tc.hash, "sha")) {
			t.Errorf("%s, smime: micalg is not %s:\n%.300s", name, tc.hash, signed)
		}
		if out, err := exec.Command("openssl", "smime", "-verify", "-in", j.file("signed.eml", sm.Message), "-CAfile", rootPath, "-out", "/dev/null").CombinedOutput(); err != nil {
			t.Errorf("%s, smime: openssl smime -verify: %v\n%s", name, err, out)
		}
		entity, p7s, err := splitSigned(signed)
		if err != nil {
			t.Errorf("%s, smime: %v", name, err)
			continue
		}
		j.all(t, name+", smime", p7s, entity, false, tc.hash, tc.gpgsm)
	}
}

// all runs every CMS judge on sig over content.
func (j *judges) all(t *testing.T, what string, sig, content []byte, attached bool, hash string, gpgsm bool) {
	t.Helper()
	sigPath := j.file("sig.p7s", sig)
	args := []string{"cms", "-verify", "-inform", "DER", "-in", sigPath, "-CAfile", j.root, "-purpose", "any", "-out", "/dev/null"}
	detached := content
	if attached {
		detached = nil
	} else {
		args = append(args, "-binary", "-content", j.file("content", content))
	}
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Errorf("%s: openssl cms -verify: %v\n%s", what, err, out)
	}
	pk := []string{"cms", sigPath, j.root}
	if !attached {
		pk = append(pk, j.file("content", content))
	}
	if err := j.pkijs(pk...); err != nil {
		t.Errorf("%s: %v", what, err)
	}
	if gpgsm {
		if err := j.gpgsmVerify(sig, detached); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	algs, err := j.der("cms", sig)
	if err != nil {
		t.Errorf("%s: asn1crypto: %v: %s", what, err, algs)
	} else if algs != hash+" "+hash {
		t.Errorf("%s: digest algorithms %q, want %s", what, algs, hash)
	}
}

func opensslRawVerify(j *judges, certPath string, sig, data []byte, alg, hash string) error {
	cert, err := x509.ParseCertificate(mustPEM(j.t, certPath))
	if err != nil {
		return err
	}
	spki, _ := x509.MarshalPKIXPublicKey(cert.PublicKey)
	pub := j.file("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	args := []string{"dgst", "-" + hash, "-verify", pub, "-signature", j.file("sig", sig)}
	if strings.Contains(alg, "PSS") {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
	}
	if out, err := exec.Command("openssl", append(args, j.file("data", data))...).CombinedOutput(); err != nil {
		return fmt.Errorf("openssl dgst -verify: %v: %s", err, out)
	}
	return nil
}

func mustPEM(t *testing.T, path string) []byte {
	s, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

// splitSigned returns the signed entity of a multipart/signed message,
// byte for byte as it was signed, and its detached signature.
func splitSigned(msg string) (entity, sig []byte, err error) {
	head, body, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		return nil, nil, fmt.Errorf("no body")
	}
	var ct string
	for _, line := range strings.Split(strings.ReplaceAll(head, "\r\n ", " "), "\r\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Type") {
			ct = v
		}
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, nil, err
	}
	delim := "--" + params["boundary"]
	parts := strings.Split(body, "\r\n"+delim)
	first := strings.Index(body, delim+"\r\n")
	if first < 0 || len(parts) < 3 {
		return nil, nil, fmt.Errorf("no parts")
	}
	entity = []byte(strings.SplitN(body[first+len(delim)+2:], "\r\n"+delim, 2)[0])
	_, b64, _ := strings.Cut(parts[2], "\r\n\r\n")
	sig, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(b64), "--")), ""))
	return entity, sig, err
}
