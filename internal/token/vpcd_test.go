package token

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/vcard"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// A card OpenSC has no driver for in a second reader (real pcscd, vpcd and
// OpenSC), answering at once or slowly: the SoftHSM2 card keeps its speed
// throughout, the PIV card in the first reader is found, and cards.list
// says which reader holds the card that cannot be used: "unsupported" when
// OpenSC says so in time, "notAnswering" when it needs longer than the
// scan timeout. (OpenSC tries every driver on an unknown card, in
// C_Initialize and again in C_GetSlotList; on a card that takes 20 ms an
// answer, that is seconds, during which the module lists nothing.)
func TestUnknownCardInAReader(t *testing.T) {
	for _, tc := range []struct {
		slow time.Duration
		want ReaderStatus
	}{{0, ReaderUnsupported}, {20 * time.Millisecond, ReaderNotAnswering}} {
		t.Run(tc.slow.String(), func(t *testing.T) {
			tok := softhsmtest.New(t, "soft")
			p := pcsctest.Shared(t)
			opensc, err := pcsctest.OpenSCModule()
			if err != nil {
				pcsctest.Missing(t, err)
			}
			p.Insert(t, 0, t.TempDir(), vcard.Options{})
			p.Insert(t, 1, t.TempDir(), vcard.Options{Mode: vcard.ModeUnknown, Slow: tc.slow})
			m := open(t, Options{Modules: []string{tok.Module, opensc}, ScanTimeout: 500 * time.Millisecond}, tok)
			ctx := context.Background()
			m.Readers() // may wait for OpenSC once, up to the timeout
			if _, err := m.Keys(ctx, tok.Serial); err != nil {
				t.Fatal(err)
			}
			var worst time.Duration
			var named, piv bool
			t0 := time.Now()
			for ; time.Since(t0) < 30*time.Second && !(named && piv); time.Sleep(50 * time.Millisecond) {
				m.Refresh()
				t1 := time.Now()
				if _, err := m.Keys(ctx, tok.Serial); err != nil {
					t.Fatal(err)
				}
				readers := m.Readers()
				worst = max(worst, time.Since(t1))
				for _, r := range readers {
					named = named || (r.Name == p.Readers[1].Name && r.Card == nil && r.Status == tc.want)
					piv = piv || (strings.HasPrefix(r.Name, p.Readers[0].Name) && r.Card != nil)
				}
			}
			t.Logf("after %v: worst keys.list + cards.list %v; readers %+v", time.Since(t0), worst, m.Readers())
			if worst > 200*time.Millisecond {
				t.Errorf("keys.list and cards.list took up to %v with the unknown card present", worst)
			}
			if !named || !piv {
				t.Errorf("reader of the unknown card named %q: %v; PIV card seen: %v", tc.want, named, piv)
			}
		})
	}
}

// TestMain stops the pcscd the PC/SC tests share (libpcsclite reads its
// address once per process).
func TestMain(m *testing.M) {
	code := m.Run()
	pcsctest.StopShared()
	os.Exit(code)
}
