package token

import (
	"crypto/sha256"
	"encoding/hex"
)

// Card identity.
//
// A card is named by its token serial, the number users see printed on it.
// Some modules give several tokens the same serial: tpm2-pkcs11 gives every
// token of one TPM the TPM's, and NSS its two internal slots one. Such a
// card is named by its serial, a dash and six hex digits taken from its
// module's file name and its token label, which stay the same across
// restarts and re-insertions. A card whose serial is unique keeps the bare
// serial, so that the common case reads as the number on the card.
//
// The name is what cards.list reports as "serial" and what requests give
// as "card".

// assignCardIDs names every card in ss; see above. Cards whose module and
// label are also the same cannot be told apart and keep the same name, so
// that asking for them is reported as ambiguous rather than answered by a
// guess.
func assignCardIDs(ss []slot) {
	count := map[string]int{}
	for _, s := range ss {
		if s.token != nil {
			count[s.tokenSerial()]++
		}
	}
	for i := range ss {
		s := &ss[i]
		if s.token == nil {
			continue
		}
		ser := s.tokenSerial()
		if count[ser] == 1 && ser != "" {
			s.card = ser
			continue
		}
		s.card = suffixedID(ser, s.mod.name, clean(s.token.Label))
	}
}

// suffixedID is serial-XXXXXX, XXXXXX from the module's file name and the
// token label.
func suffixedID(serial, module, label string) string {
	h := sha256.Sum256([]byte(module + "\x00" + label))
	suffix := hex.EncodeToString(h[:3])
	if serial == "" {
		return suffix
	}
	return serial + "-" + suffix
}
