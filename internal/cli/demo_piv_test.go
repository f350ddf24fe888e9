package cli

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// TestDemoFindsPIVCard: with the virtual PIV card in a reader and OpenSC
// and ykcs11 installed, the demo finds it as the real card it stands for,
// lists it once beside its own SoftHSM2 card (the pages let the user pick
// it), and never claims it as the demo card.
func TestDemoFindsPIVCard(t *testing.T) {
	p := pcsctest.Shared(t)
	card := p.Insert(t, 0, t.TempDir(), vcard.Options{})
	var mods []string
	for _, find := range []func() (string, error){pcsctest.OpenSCModule, pcsctest.YKCS11Module} {
		m, err := find()
		if err != nil {
			pcsctest.Missing(t, err)
		}
		mods = append(mods, "--module", m)
	}
	e := newDesktopEnv(t)
	script, _ := filepath.Abs("../../testdata/pinentry-script")
	cmd := exec.Command(bin, append([]string{"demo", "--listen", "127.0.0.1:0", "--portal", "127.0.0.1:0", "--pinentry", script}, mods...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(e.home, "data"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Press Ctrl-C") {
				banner <- b.String()
				return
			}
		}
		banner <- b.String()
	}()
	var text string
	select {
	case text = <-banner:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not start")
	}
	piv := strconv.FormatUint(uint64(card.Serial()), 10)
	var demoLine, otherLine string
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(l, "Demo card:"):
			demoLine = l
		case strings.Contains(l, "Other cards:"):
			otherLine = l
		}
	}
	if strings.Contains(demoLine, piv) || !strings.Contains(demoLine, "SoftHSM2") {
		t.Fatalf("the demo claimed the PIV card:\n%s", text)
	}
	if strings.Count(otherLine, piv) != 1 || strings.Contains(otherLine, "00000000") {
		t.Fatalf("the PIV card is not listed once among the other cards:\n%s", text)
	}
}
