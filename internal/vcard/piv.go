package vcard

import (
	"bytes"
	"crypto"
	"encoding/hex"
)

// version is what GET VERSION reports: YubiKey firmware 5.4.3, new enough
// for Yubico's tools to use GET SERIAL and GET METADATA, old enough that they
// still authenticate with the 3DES management key.
var version = [3]byte{5, 4, 3}

// pivAID is the PIV application identifier; SELECT matches a prefix of it.
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// discovery is the read-only discovery object (tag 7E): the PIV AID and a PIN
// usage policy of "PIV PIN only".
var discovery = tlv1(0x7E, append(tlv1(0x4F, pivAID), 0x5F, 0x2F, 0x02, 0x40, 0x00))

// pinObjects may only be read after VERIFY (SP 800-73-4 table 1; Yubico keeps
// the PIN-protected management key in the printed information object).
var pinObjects = map[string]bool{"5fc103": true, "5fc108": true, "5fc109": true}

// applet is the PIV application with its volatile security status.
type applet struct {
	st       *state
	unknown  bool
	logf     func(string, ...any)
	keygen   func(alg byte) (crypto.Signer, error) // nil: newKey; the fuzz test hands out keys made once
	selected bool
	pinOK    bool // PIN verified since SELECT or power on
	pinFresh bool // PIN verified and not yet used by a "PIN always" key
	mgmtOK   bool // management key authenticated
	witness  []byte
	chal     []byte
	chain    *command
	pending  []byte
}

// resetStatus drops every verification, as SELECT and a power cycle do.
func (a *applet) resetStatus() {
	a.pinOK, a.pinFresh, a.mgmtOK = false, false, false
	a.witness, a.chal, a.chain, a.pending = nil, nil, nil, nil
}

// save persists the state; a failed save answers 6F00.
func (a *applet) save(data []byte, status uint16) ([]byte, uint16) {
	if err := a.st.save(); err != nil {
		if a.logf != nil {
			a.logf("vcard: %v", err)
		}
		return nil, swUnknown
	}
	return data, status
}

func (a *applet) selectApp(c command) ([]byte, uint16) {
	if c.p1 != 0x04 || len(c.data) < 5 || len(c.data) > len(pivAID) || !bytes.HasPrefix(pivAID, c.data) {
		return nil, swNotFound
	}
	a.selected = true
	a.resetStatus()
	// Application property template: AID tail and the coexistent tag allocation authority.
	apt := append(tlv1(0x4F, pivAID[5:]), tlv1(0x79, tlv1(0x4F, pivAID[:5]))...)
	return tlv1(0x61, apt), swOK
}

// objectTag reads the 5C tag list of GET DATA and PUT DATA.
func objectTag(b []byte) (string, []byte, bool) {
	tag, v, rest, err := readTLV(b)
	if err != nil || tag != 0x5C || len(v) == 0 || len(v) > 3 {
		return "", nil, false
	}
	return hex.EncodeToString(v), rest, true
}

func (a *applet) getData(c command) ([]byte, uint16) {
	if c.p1 != 0x3F || c.p2 != 0xFF {
		return nil, swWrongP1P2
	}
	tag, rest, ok := objectTag(c.data)
	if !ok || len(rest) != 0 {
		return nil, swIncorrectData
	}
	if tag == "7e" {
		return discovery, swOK
	}
	if pinObjects[tag] && !a.pinOK {
		return nil, swSecurity
	}
	v, ok := a.st.Objects[tag]
	if !ok {
		return nil, swNotFound
	}
	return tlv1(0x53, v), swOK
}

func (a *applet) putData(c command) ([]byte, uint16) {
	if c.p1 != 0x3F || c.p2 != 0xFF {
		return nil, swWrongP1P2
	}
	if !a.mgmtOK {
		return nil, swSecurity
	}
	tag, rest, ok := objectTag(c.data)
	if !ok || tag == "7e" || tag == "7f61" {
		return nil, swIncorrectData
	}
	v, err := unwrap(0x53, rest)
	if err != nil {
		return nil, swIncorrectData
	}
	if len(v) == 0 {
		delete(a.st.Objects, tag)
	} else {
		a.st.Objects[tag] = append([]byte{}, v...)
	}
	return a.save(nil, swOK)
}

// metadata is Yubico GET METADATA (firmware 5.3+) for the PIN (80), the PUK
// (81), the management key (9B) and the key slots.
func (a *applet) metadata(c command) ([]byte, uint16) {
	if c.p1 != 0 {
		return nil, swWrongP1P2
	}
	switch c.p2 {
	case 0x80, 0x81:
		max, left, isDefault := a.st.PINMax, a.st.PINLeft, a.st.PIN == DefaultPIN
		if c.p2 == 0x81 {
			max, left, isDefault = a.st.PUKMax, a.st.PUKLeft, a.st.PUK == DefaultPUK
		}
		out := tlv1(0x01, []byte{0xFF})
		out = append(out, tlv1(0x05, []byte{boolByte(isDefault)})...)
		return append(out, tlv1(0x06, []byte{byte(max), byte(left)})...), swOK
	case 0x9B:
		out := tlv1(0x01, []byte{a.st.MgmtAlg})
		out = append(out, tlv1(0x02, []byte{0x00, touchNever})...)
		return append(out, tlv1(0x05, []byte{boolByte(a.st.MgmtKey != nil && hex.EncodeToString(a.st.MgmtKey) == DefaultMgmtKey)})...), swOK
	}
	if !validSlot(c.p2) {
		return nil, swWrongP1P2
	}
	k, ok := a.st.Keys[slotName(c.p2)]
	if !ok {
		return nil, swRefNotFound
	}
	pub, err := k.publicTLVs()
	if err != nil {
		return nil, swUnknown
	}
	origin := byte(1)
	if k.Imported {
		origin = 2
	}
	out := tlv1(0x01, []byte{k.Alg})
	out = append(out, tlv1(0x02, []byte{k.pinPolicy(c.p2), k.touchPolicy()})...)
	out = append(out, tlv1(0x03, []byte{origin})...)
	return append(out, tlv1(0x04, pub)...), swOK
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// setMgmtKey is Yubico SET MANAGEMENT KEY: data = algorithm, 9B, length, key.
func (a *applet) setMgmtKey(c command) ([]byte, uint16) {
	if c.p1 != 0xFF || (c.p2 != 0xFF && c.p2 != 0xFE) {
		return nil, swWrongP1P2
	}
	if !a.mgmtOK {
		return nil, swSecurity
	}
	if len(c.data) < 3 || c.data[1] != 0x9B || int(c.data[2]) != len(c.data)-3 {
		return nil, swIncorrectData
	}
	alg, k := c.data[0], c.data[3:]
	if mgmtKeyLen[alg] == 0 || mgmtKeyLen[alg] != len(k) {
		return nil, swIncorrectData
	}
	a.st.MgmtAlg, a.st.MgmtKey = alg, append([]byte{}, k...)
	return a.save(nil, swOK)
}

// resetCard is Yubico RESET: allowed only once PIN and PUK are both blocked.
func (a *applet) resetCard(c command) ([]byte, uint16) {
	if a.st.PINLeft > 0 || a.st.PUKLeft > 0 {
		return nil, swConditions
	}
	mk, _ := hex.DecodeString(DefaultMgmtKey)
	a.st.reset(mk)
	a.resetStatus()
	return a.save(nil, swOK)
}

// setRetries is Yubico SET PIN RETRIES (P1 PIN, P2 PUK); like a YubiKey it
// puts PIN and PUK back to their defaults.
func (a *applet) setRetries(c command) ([]byte, uint16) {
	if !a.mgmtOK || !a.pinOK {
		return nil, swSecurity
	}
	if c.p1 == 0 || c.p2 == 0 || c.p1 > 15 || c.p2 > 15 {
		return nil, swWrongP1P2
	}
	a.st.PIN, a.st.PUK = DefaultPIN, DefaultPUK
	a.st.PINMax, a.st.PINLeft, a.st.PUKMax, a.st.PUKLeft = int(c.p1), int(c.p1), int(c.p2), int(c.p2)
	return a.save(nil, swOK)
}
