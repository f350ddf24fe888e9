package vcard

import (
	"bytes"
	"crypto/subtle"
)

// reference is a PIN or the PUK with its retry counter.
type reference struct {
	value *string
	left  *int
	max   int
}

func (a *applet) ref(p2 byte) (reference, bool) {
	switch p2 {
	case 0x80:
		return reference{&a.st.PIN, &a.st.PINLeft, a.st.PINMax}, true
	case 0x81:
		return reference{&a.st.PUK, &a.st.PUKLeft, a.st.PUKMax}, true
	}
	return reference{}, false
}

// unpad reads an 8-byte PIN or PUK block padded with FF.
func unpad(b []byte) (string, bool) {
	if len(b) != 8 {
		return "", false
	}
	v := bytes.TrimRight(b, "\xff")
	if len(v) < 6 || bytes.IndexByte(v, 0xFF) >= 0 {
		return "", false
	}
	return string(v), true
}

// check compares a presented value with the reference and counts a failure;
// it answers 9000, 63Cx or 6983 and saves the counter before answering.
func (a *applet) check(r reference, presented string) uint16 {
	if *r.left <= 0 {
		return swBlocked
	}
	if subtle.ConstantTimeCompare([]byte(presented), []byte(*r.value)) == 1 {
		if *r.left != r.max {
			*r.left = r.max
			if _, st := a.save(nil, swOK); st != swOK {
				return st
			}
		}
		return swOK
	}
	*r.left--
	if _, st := a.save(nil, swOK); st != swOK {
		return st
	}
	return swTriesLeft | uint16(*r.left)
}

// verify is VERIFY: P1 FF logs out, empty data asks for the status.
func (a *applet) verify(c command) ([]byte, uint16) {
	r, ok := a.ref(c.p2)
	if !ok {
		return nil, swRefNotFound
	}
	if c.p1 == 0xFF {
		if c.p2 == 0x80 {
			a.pinOK, a.pinFresh = false, false
		}
		return nil, swOK
	}
	if c.p1 != 0 {
		return nil, swWrongP1P2
	}
	if len(c.data) == 0 {
		switch {
		case *r.left <= 0:
			return nil, swBlocked
		case c.p2 == 0x80 && a.pinOK:
			return nil, swOK
		}
		return nil, swTriesLeft | uint16(*r.left)
	}
	v, ok := unpad(c.data)
	if !ok {
		return nil, swIncorrectData
	}
	st := a.check(r, v)
	if c.p2 == 0x80 {
		a.pinOK = st == swOK
		a.pinFresh = a.pinOK
	}
	return nil, st
}

// changeRef is CHANGE REFERENCE DATA: old ‖ new, 8 bytes each.
func (a *applet) changeRef(c command) ([]byte, uint16) {
	r, ok := a.ref(c.p2)
	if !ok || c.p1 != 0 {
		return nil, swWrongP1P2
	}
	if len(c.data) != 16 {
		return nil, swIncorrectData
	}
	old, ok1 := unpad(c.data[:8])
	nw, ok2 := unpad(c.data[8:])
	if !ok1 || !ok2 {
		return nil, swIncorrectData
	}
	if st := a.check(r, old); st != swOK {
		return nil, st
	}
	*r.value = nw
	return a.save(nil, swOK)
}

// resetRetry is RESET RETRY COUNTER: PUK ‖ new PIN, 8 bytes each.
func (a *applet) resetRetry(c command) ([]byte, uint16) {
	if c.p1 != 0 || c.p2 != 0x80 {
		return nil, swWrongP1P2
	}
	if len(c.data) != 16 {
		return nil, swIncorrectData
	}
	puk, ok1 := unpad(c.data[:8])
	pin, ok2 := unpad(c.data[8:])
	if !ok1 || !ok2 {
		return nil, swIncorrectData
	}
	r, _ := a.ref(0x81)
	if st := a.check(r, puk); st != swOK {
		return nil, st
	}
	a.st.PIN, a.st.PINLeft = pin, a.st.PINMax
	return a.save(nil, swOK)
}
