package vcard_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// bench is a private pcscd with one virtual card in its first reader.
type bench struct {
	t     *testing.T
	pcsc  *pcsctest.PCSC
	card  *vcard.Card
	dir   string
	home  string
}

func newBench(t *testing.T) *bench {
	t.Helper()
	for _, tool := range []string{"yubico-piv-tool", "pkcs11-tool", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			pcsctest.Missing(t, err)
		}
	}
	p := pcsctest.Start(t, 1)
	b := &bench{t: t, pcsc: p, dir: t.TempDir(), home: t.TempDir()}
	b.card = p.Insert(t, 0, b.dir, vcard.Options{Logf: t.Logf})
	return b
}

// run runs a tool against the bench's pcscd and returns its combined output;
// a failure fails the test.
func (b *bench) run(name string, args ...string) string {
	b.t.Helper()
	out, err := b.try(name, args...)
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (b *bench) try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	// HOME and XDG_CACHE_HOME: OpenSC caches card files there.
	cmd.Env = append(b.pcsc.Env(), "HOME="+b.home, "XDG_CACHE_HOME="+b.home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bench) piv(args ...string) string {
	return b.run("yubico-piv-tool", append([]string{"-r", "Yubico"}, args...)...)
}

func TestStatus(t *testing.T) {
	b := newBench(t)
	out := b.piv("-a", "status")
	t.Log(out)
}
