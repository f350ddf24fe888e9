package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestVersionAndUsage(t *testing.T) {
	if out, _, code := run(t, "version"); code != 0 || !strings.HasPrefix(out, "cardbridge ") {
		t.Fatalf("version: %q %d", out, code)
	}
	if _, errOut, code := run(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %q %d", errOut, code)
	}
	// Flags without a command go to the tray, which checks them like serve.
	if _, errOut, code := run(t, "--listen", "0.0.0.0:1"); code != 1 || !strings.Contains(errOut, "cardbridge tray: listen address") {
		t.Fatalf("cardbridge --listen: %q %d", errOut, code)
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:47150", "192.168.1.10:47150", "[::]:47150", "example.org:47150"} {
		_, errOut, code := run(t, "serve", "--listen", addr, "--config", t.TempDir())
		if code != 1 || !strings.Contains(errOut, "loopback") {
			t.Errorf("serve --listen %s: %q %d", addr, errOut, code)
		}
	}
}

func TestStatusAndImportP12(t *testing.T) {
	tok := softhsmtest.New(t, "status card")
	out, errOut, code := run(t, "status", "--module", tok.Module)
	if code != 0 || !strings.Contains(out, "Card number: "+tok.Serial) || !strings.Contains(out, "Keys: none") {
		t.Fatalf("status: %s %s", out, errOut)
	}
	dir := t.TempDir()
	key, cert, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "b.p12")
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Bob", "-days", "30"},
		{"pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw"},
	} {
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, b)
		}
	}
	queue := filepath.Join(dir, "answers")
	os.WriteFile(queue, []byte("pin pw\npin "+softhsmtest.PIN+"\n"), 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	script, _ := filepath.Abs("../../testdata/pinentry-script")
	out, errOut, code = run(t, "import-p12", "--module", tok.Module, "--pinentry", script, "--label", "bob", p12)
	if code != 0 || !strings.Contains(out, "Stored EC-P256 key") {
		t.Fatalf("import-p12: %s %s", out, errOut)
	}
	out, _, _ = run(t, "status", "--module", tok.Module)
	if !strings.Contains(out, `"bob", with certificate`) {
		t.Fatalf("status after import:\n%s", out)
	}
}
