package vcard_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// TestPullDuringSign: Options.Pull takes the card out in the middle of a
// signature; the tool fails, pcscd sees the card leave, and the same card
// put back signs again.
func TestPullDuringSign(t *testing.T) {
	b := newBench(t)
	_, cert := b.genCert("9a", "ECCP256")
	b.pcsc.Remove(t, 0)
	b.card = b.pcsc.Insert(t, 0, b.dir, vcard.Options{Pull: func(ins byte) bool { return ins == 0x87 }})
	if out, err := b.try("yubico-piv-tool", "-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "test-signature", "-s", "9a", "-i", cert); err == nil {
		t.Fatalf("signed with the card pulled out:\n%s", out)
	}
	select {
	case <-b.card.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the card is still in")
	}
	b.pcsc.Remove(t, 0) // waits until pcscd noticed
	b.card = b.pcsc.Insert(t, 0, b.dir, vcard.Options{})
	b.piv("-a", "verify-pin", "-P", vcard.DefaultPIN, "-a", "test-signature", "-s", "9a", "-i", cert)
}

// TestBesideSlowUnknownCard: a PIV card keeps working through OpenSC while
// a slow card that no driver knows sits in the second reader. (OpenSC probes
// such a card with every driver on each C_GetSlotList: at 20 ms an answer,
// one pkcs11-tool -L takes seconds.)
func TestBesideSlowUnknownCard(t *testing.T) {
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		pcsctest.Missing(t, err)
	}
	sc := module(t, pcsctest.OpenSCModule)
	p := pcsctest.Start(t, 2)
	b := &bench{t: t, pcsc: p, dir: t.TempDir(), home: t.TempDir()}
	b.ca = newCA(t, b.path("ca.pem"))
	b.card = p.Insert(t, 0, b.dir, vcard.Options{})
	p.Insert(t, 1, t.TempDir(), vcard.Options{Mode: vcard.ModeUnknown, Slow: 5 * time.Millisecond})
	b.genCert("9a", "ECCP256")
	slots := b.p11(sc, "-L")
	mustContain(t, slots, p.Readers[0].Name, p.Readers[1].Name, "token not recognized")
	if strings.Count(slots, "token label") != 1 {
		t.Fatalf("want one token, the PIV card's:\n%s", slots)
	}
	mustContain(t, b.p11(sc, "-O"), "CN=vcard 9a")
}
