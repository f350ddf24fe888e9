package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// judges are the verifiers nobody here wrote that every signature
// cardbridge makes must pass: openssl, gpgsm, pkijs (run by node) and a
// strict DER check with Python's asn1crypto, which re-encodes what it read
// and must get the same bytes back.
type judges struct {
	t      *testing.T
	root   string // the demo root, PEM
	gnupg  string // GNUPGHOME with the root trusted
	python string
	tool   string // web-extension/test/tools/cms-verify.mjs
}

// needVerifier skips the test when a verifier is missing, or fails it where
// they are required (CI, CARDBRIDGE_REQUIRE_VERIFIERS).
func needVerifier(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CARDBRIDGE_REQUIRE_VERIFIERS") != "" || os.Getenv("CI") == "true" {
		t.Fatalf("%s is required here: %v", what, err)
	}
	t.Skipf("%s missing: %v", what, err)
}

func newJudges(t *testing.T, rootPath string) *judges {
	j := &judges{t: t, root: rootPath}
	for _, tool := range []string{"openssl", "gpgsm", "gpgconf", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			needVerifier(t, tool, err)
		}
	}
	// Debian's asn1crypto lives in the system python, which a pyenv or
	// venv python3 earlier on PATH cannot see.
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import asn1crypto").Run() == nil {
			j.python = py
			break
		}
	}
	if j.python == "" {
		needVerifier(t, "python3 with asn1crypto (python3-asn1crypto)", os.ErrNotExist)
	}
	tool, err := filepath.Abs("../../web-extension/test/tools/cms-verify.mjs")
	if err != nil {
		t.Fatal(err)
	}
	j.tool = tool
	if _, err := os.Stat("../../web-extension/node_modules/pkijs/package.json"); err != nil {
		needVerifier(t, "pkijs (npm ci in web-extension)", err)
	}
	j.gnupg = t.TempDir()
	os.WriteFile(filepath.Join(j.gnupg, "gpgsm.conf"), []byte("disable-crl-checks\n"), 0o600)
	j.gpgsm("--import", rootPath)
	fpr := ""
	for _, line := range strings.Split(j.gpgsm("--with-colons", "--fingerprint"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	os.WriteFile(filepath.Join(j.gnupg, "trustlist.txt"), []byte(fpr+" S relax\n"), 0o600)
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+j.gnupg)
		cmd.Run()
	})
	return j
}

func (j *judges) gpgsm(args ...string) string {
	j.t.Helper()
	out, err := j.gpgsmRun(args...)
	if err != nil {
		j.t.Fatalf("gpgsm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (j *judges) gpgsmRun(args ...string) (string, error) {
	cmd := exec.Command("gpgsm", append([]string{"--batch", "--status-fd", "1"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+j.gnupg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (j *judges) file(name string, b []byte) string {
	j.t.Helper()
	p := filepath.Join(j.t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		j.t.Fatal(err)
	}
	return p
}

// strictDER is the asn1crypto check. kind "cms" prints the digest
// algorithms of the SignedData; "ecdsa" reads an ECDSA-Sig-Value.
const strictDER = `
import sys
from asn1crypto import algos, cms
kind, data = sys.argv[1], open(sys.argv[2], 'rb').read()
v = (cms.ContentInfo if kind == 'cms' else algos.DSASignature).load(data, strict=True)
v.native
again = v.dump(force=True)
if again != data:
    at = next((i for i, (a, b) in enumerate(zip(again, data)) if a != b), min(len(again), len(data)))
    sys.exit('not DER: re-encoded it differs at byte %d of %d' % (at, len(data)))
if kind == 'cms':
    sd = v['content']
    print(' '.join([a['algorithm'].native for a in sd['digest_algorithms']] + [s['digest_algorithm']['algorithm'].native for s in sd['signer_infos']]))
`

// der runs the strict DER check and returns what it prints.
func (j *judges) der(kind string, b []byte) (string, error) {
	out, err := exec.Command(j.python, "-c", strictDER, kind, j.file("der", b)).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// pkijs runs cms-verify.mjs.
func (j *judges) pkijs(args ...string) error {
	out, err := exec.Command("node", append([]string{j.tool}, args...)...).CombinedOutput()
	if err != nil || !bytes.Equal(bytes.TrimSpace(out), []byte("ok")) {
		return &judgeError{"pkijs", string(out), err}
	}
	return nil
}

type judgeError struct {
	who, out string
	err      error
}

func (e *judgeError) Error() string {
	return e.who + ": " + strings.TrimSpace(e.out) + " (" + errString(e.err) + ")"
}

func errString(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// gpgsmVerify checks a CMS signature (detached when content is set) and
// wants a good signature from a certificate that chains to the root.
func (j *judges) gpgsmVerify(sig, content []byte) error {
	args := []string{"--verify", j.file("sig.p7s", sig), j.file("content", content)}
	if content == nil {
		args = []string{"--output", filepath.Join(j.t.TempDir(), "out"), "--verify", args[1]}
	}
	out, err := j.gpgsmRun(args...)
	if err != nil || !strings.Contains(out, "[GNUPG:] GOODSIG") || !strings.Contains(out, "[GNUPG:] VALIDSIG") || strings.Contains(out, "TRUST_NEVER") {
		return &judgeError{"gpgsm", out, err}
	}
	return nil
}
