package token

import (
	"errors"
	"testing"

	"github.com/miekg/pkcs11"
)

func tokenSlot(mod *module, serial, label string) slot {
	return slot{mod: mod, token: &pkcs11.TokenInfo{SerialNumber: serial + "\x00\x00", Label: label + "   "}}
}

// Cards that share a serial get names that differ, stay the same when
// scanned again in another order, and stay apart from the bare serial; a
// unique serial is its own name.
func TestCardIDs(t *testing.T) {
	tpm := &module{name: "libtpm2_pkcs11.so.1"}
	nss := &module{name: "libsoftokn3.so"}
	ss := []slot{
		tokenSlot(tpm, "0000000000000000", "alice"),
		tokenSlot(tpm, "0000000000000000", "bob"),
		tokenSlot(nss, "0000000000000000", "NSS Certificate DB"),
		tokenSlot(nss, "1234", "unique"),
		{mod: nss}, // an empty reader
	}
	assignCardIDs(ss)
	names := map[string]bool{}
	for _, s := range ss[:4] {
		if names[s.serial()] {
			t.Fatalf("name %q given twice", s.serial())
		}
		names[s.serial()] = true
	}
	if ss[3].serial() != "1234" {
		t.Errorf("unique serial named %q", ss[3].serial())
	}
	if got := ss[0].serial(); len(got) != len("0000000000000000-")+6 || got[:17] != "0000000000000000-" {
		t.Errorf("shared serial named %q", got)
	}
	again := []slot{ss[2], ss[1], ss[0]}
	for i := range again {
		again[i].card = ""
	}
	assignCardIDs(again)
	if again[2].serial() != ss[0].serial() || again[1].serial() != ss[1].serial() || again[0].serial() != ss[2].serial() {
		t.Errorf("names changed with the order of the scan")
	}
	m := &Manager{}
	if _, err := m.findIn(ss, "0000000000000000"); !errors.Is(err, ErrAmbiguousCard) {
		t.Errorf("bare shared serial: %v", err)
	}
	if s, err := m.findIn(ss, ss[1].serial()); err != nil || clean(s.token.Label) != "bob" {
		t.Errorf("find %s: %v", ss[1].serial(), err)
	}
}
