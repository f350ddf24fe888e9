package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
)

const corpus = "../../testdata/smime"

func readPEM(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

// importCorpusKeys writes the corpus's test keys onto the daemon's card, as
// a user would import a PKCS #12 bundle, so that the card decrypts.
func importCorpusKeys(t *testing.T, d *testDaemon, names ...string) {
	t.Helper()
	ca, err := x509.ParseCertificate(readPEM(t, filepath.Join(corpus, "keys", "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	login := func(context.Context, token.LoginInfo) (string, error) { return softhsmtest.PIN, nil }
	err = d.tokens.Do(context.Background(), "", login, func(s *token.Session) error {
		for _, n := range names {
			cert, err := x509.ParseCertificate(readPEM(t, filepath.Join(corpus, "keys", n+".pem")))
			if err != nil {
				return err
			}
			key, err := x509.ParsePKCS8PrivateKey(readPEM(t, filepath.Join(corpus, "keys", n+".key")))
			if err != nil {
				return err
			}
			if _, err := s.ImportKey(key, cert, []*x509.Certificate{ca}, "corpus "+n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSMIMECorpus opens every message of testdata/smime, made by openssl,
// gpgsm and pkijs (see its make.sh and manifest.txt: file, recipient key,
// expected outcome, "ok=FILE" when the plaintext is not plain.txt), on a SoftHSM2 card holding the recipients' keys, and
// holds the answer against openssl cms -decrypt with the same key: the
// good ones give the plaintext both ways, the damaged ones a clear error
// here (and a failure there).
func TestSMIMECorpus(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	importCorpusKeys(t, d, "rsa", "p256", "p384", "p521")
	plain, err := os.ReadFile(filepath.Join(corpus, "plain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(corpus, "manifest.txt"))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{"ok": 0, "invalid_params": protocol.CodeInvalidParams, "key_not_found": protocol.CodeKeyNotFound}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("manifest line %q", line)
		}
		name, rcpt, want := f[0], f[1], f[2]
		path := ""
		for _, sub := range []string{"good", "damaged", "signed"} {
			if p := filepath.Join(corpus, sub, name); fileExists(p) {
				path = p
			}
		}
		if path == "" {
			t.Fatalf("%s: in the manifest but not in the corpus", name)
		}
		msg, _ := os.ReadFile(path)
		seen++
		var res protocol.SMIMEResult
		perr := c.call("smime.decrypt", map[string]any{"message": msg}, &res)
		ref, refErr := exec.Command("openssl", "cms", "-decrypt", "-binary", "-in", path,
			"-recip", filepath.Join(corpus, "keys", rcpt+".pem"), "-inkey", filepath.Join(corpus, "keys", rcpt+".key")).Output()
		want, plainFile, _ := strings.Cut(want, "=")
		expect := plain
		if plainFile != "" {
			if expect, err = os.ReadFile(filepath.Join(corpus, plainFile)); err != nil {
				t.Fatal(err)
			}
		}
		if want == "ok" {
			switch {
			case perr != nil:
				t.Errorf("%s: %v", name, perr)
			case !bytes.Equal(res.Message, expect):
				t.Errorf("%s: decrypted %d bytes that are not the plaintext", name, len(res.Message))
			case refErr != nil || !bytes.Equal(ref, res.Message):
				t.Errorf("%s: openssl cms -decrypt disagrees (%v): %q", name, refErr, ref)
			}
			continue
		}
		if perr == nil {
			t.Errorf("%s: damaged message decrypted to %q", name, res.Message)
			continue
		}
		t.Logf("%s: %s", name, perr.Data.Reason)
		if perr.Code != codes[want] || perr.Data == nil || perr.Data.Reason == "" {
			t.Errorf("%s: error %v, want %s with a reason", name, perr, want)
		}
		if want == "key_not_found" {
			// Good, but for a key the card does not have.
			if refErr != nil || !bytes.Equal(ref, plain) {
				t.Errorf("%s: openssl cannot open it with its key either: %v", name, refErr)
			}
		} else if refErr == nil && bytes.Equal(ref, plain) {
			t.Errorf("%s: openssl opens the damaged message; the corpus is wrong", name)
		}
	}
	if seen < 30 {
		t.Fatalf("only %d messages in the corpus", seen)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
