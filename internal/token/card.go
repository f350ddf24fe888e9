package token

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/miekg/pkcs11"
)

// Reader is a slot of a module: a card reader, or a virtual slot.
type Reader struct {
	Name   string
	Module string
	Card   *Card // nil when the reader is empty, or its card cannot be used
	// Status says why a reader with a card in it shows none: the module
	// did not answer in time, or does not know the card. A module that
	// has not yet listed any reader appears as one reader named after it.
	Status ReaderStatus
}

// Card describes the token in a reader.
type Card struct {
	// Serial names the card in requests: the token serial, with a suffix
	// where cards share a serial (see cardid.go).
	Serial string
	// TokenSerial is the serial the token reports.
	TokenSerial  string
	Label        string
	Manufacturer string
	Model        string
	PIN          PINState
	Algorithms   []string // key algorithms it can generate, e.g. "RSA-2048"
	// FixedSlots: keys live in PIV slots (9a, 9c, 9d), chosen by purpose.
	FixedSlots bool
}

// PINState is what the token says about its user PIN.
type PINState struct {
	Initialized bool
	CountLow    bool
	FinalTry    bool
	Locked      bool
	ToBeChanged bool
	MinLength   int
	MaxLength   int
	PINPad      bool // the PIN is entered on the reader (protected authentication path)
}

func pinState(ti *pkcs11.TokenInfo) PINState {
	f := ti.Flags
	return PINState{
		Initialized: f&pkcs11.CKF_USER_PIN_INITIALIZED != 0,
		CountLow:    f&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry:    f&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:      f&pkcs11.CKF_USER_PIN_LOCKED != 0,
		ToBeChanged: f&pkcs11.CKF_USER_PIN_TO_BE_CHANGED != 0,
		MinLength:   int(ti.MinPinLen),
		MaxLength:   int(ti.MaxPinLen),
		PINPad:      f&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0,
	}
}

// Readers lists every reader of every module and the card in it.
func (m *Manager) Readers() []Reader {
	var out []Reader
	for _, s := range m.scan() {
		r := Reader{Name: s.reader(), Module: s.mod.name, Status: s.status}
		if s.token != nil {
			c := m.card(s)
			r.Card = &c
		}
		out = append(out, r)
	}
	return out
}

// CardInfo returns what the card with serial looks like now.
func (m *Manager) CardInfo(serial string) (Reader, error) {
	s, err := m.find(serial)
	if err != nil {
		return Reader{}, err
	}
	c := m.card(s)
	return Reader{Name: s.reader(), Module: s.mod.name, Card: &c}, nil
}

func (m *Manager) card(s slot) Card {
	ti := s.token
	return Card{
		Serial:       s.serial(),
		TokenSerial:  s.tokenSerial(),
		Label:        clean(ti.Label),
		Manufacturer: clean(ti.ManufacturerID),
		Model:        clean(ti.Model),
		PIN:          pinState(ti),
		Algorithms:   m.knownAlgorithms(s),
		FixedSlots:   s.fixedSlots(),
	}
}

// LoginInfo tells a LoginFunc what it is asking the PIN for.
type LoginInfo struct {
	Reader string
	Serial string
	Label  string
	PIN    PINState
}

// LoginFunc obtains the user PIN, typically by asking the user. It is called
// only when the card needs a login. For a card with a PIN pad it is still
// called, with PIN.PINPad set, so that the user can be told to use the pad
// or to refuse; its answer is then ignored.
type LoginFunc func(ctx context.Context, info LoginInfo) (string, error)

// conn is one open session on one card, used inside Manager.do.
type conn struct {
	m        *Manager
	slot     slot
	p        *pkcs11.Ctx
	sh       pkcs11.SessionHandle
	loggedIn bool
	wrote    bool   // token objects were (or may have been) created or destroyed
	pin      string // for keys that need a login before every use; see contextLogin
	stuck    stuck  // a call given up on; see guard
}

// credential is what askPIN collected before the card is taken.
type credential struct {
	needed bool // false: the token needs no login
	pin    string
}

// askPIN asks fn for the PIN before the card is locked, so that a dialog
// waiting for the user never holds up other work on the card. A locked PIN
// is reported without asking, and a PIN of the wrong length is refused here
// because the card would count it as a wrong try.
func (m *Manager) askPIN(ctx context.Context, s slot, fn LoginFunc) (credential, error) {
	// Guarded like card work: a module stuck in another call may not
	// answer this either, and the request must not wait for it for good.
	ti, err := guard(&conn{m: m, slot: s}, func() (pkcs11.TokenInfo, error) {
		s.mod.rw.RLock()
		defer s.mod.rw.RUnlock()
		return s.mod.ctx.GetTokenInfo(s.id)
	})
	if errors.Is(err, ErrNotAnswering) {
		return credential{}, err
	}
	if err != nil {
		m.dropCard(s)
		return credential{}, m.gone(s, fmt.Errorf("read token info of %s: %w", s.serial(), mapError(err)))
	}
	if clean(ti.SerialNumber) != s.tokenSerial() || clean(ti.Label) != clean(s.token.Label) {
		// Another card took its place since the scan.
		m.dropCard(s)
		return credential{}, fmt.Errorf("card %s: %w", s.serial(), ErrCardRemoved)
	}
	st := pinState(&ti)
	if st.Locked {
		return credential{}, fmt.Errorf("log in to %s: %w", s.serial(), ErrPINLocked)
	}
	if ti.Flags&pkcs11.CKF_LOGIN_REQUIRED == 0 {
		return credential{}, nil
	}
	info := LoginInfo{Reader: s.reader(), Serial: s.serial(), Label: clean(ti.Label), PIN: st}
	pin, err := fn(ctx, info)
	if err != nil {
		return credential{}, err
	}
	if st.PINPad {
		return credential{needed: true}, nil
	}
	if n := utf8.RuneCountInString(pin); st.MaxLength > 0 && (n < st.MinLength || n > st.MaxLength) {
		return credential{}, fmt.Errorf("log in to %s: %w", s.serial(), &PINIncorrectError{BadLength: true, Min: st.MinLength, Max: st.MaxLength, CountLow: st.CountLow, FinalTry: st.FinalTry})
	}
	return credential{needed: true, pin: pin}, nil
}

// login logs the user in with a PIN from askPIN. A refused PIN is
// reported, never retried.
func (c *conn) login(ctx context.Context, cred credential) error {
	if !cred.needed {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	var err error
	if c.m.loginFault != nil {
		if rv := c.m.loginFault(c.slot.serial()); rv != 0 {
			err = pkcs11.Error(rv)
		}
	}
	if err == nil {
		err = c.p.Login(c.sh, pkcs11.CKU_USER, cred.pin)
	}
	switch {
	case err == nil, isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		c.loggedIn = true
		c.pin = cred.pin
		return nil
	}
	return fmt.Errorf("log in to %s: %w", c.slot.serial(), c.pinError(err, false))
}

// alwaysAuthenticate reports whether the private key h needs the PIN again
// before every operation (CKA_ALWAYS_AUTHENTICATE: PIV slot 9c and most
// qualified-signature keys).
func (c *conn) alwaysAuthenticate(h pkcs11.ObjectHandle) bool {
	a, err := c.attrs(h, pkcs11.CKA_ALWAYS_AUTHENTICATE)
	return err == nil && len(a[pkcs11.CKA_ALWAYS_AUTHENTICATE]) > 0 && a[pkcs11.CKA_ALWAYS_AUTHENTICATE][0] != 0
}

// contextLogin presents the PIN the user typed for this request once more,
// as CKU_CONTEXT_SPECIFIC, right after the operation's Init. The user was
// told in the dialog that it would be presented for each signature. On a
// PIN-pad reader the reader asks each time.
func (c *conn) contextLogin() error {
	err := c.p.Login(c.sh, pkcs11.CKU_CONTEXT_SPECIFIC, c.pin)
	if err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return fmt.Errorf("log in to %s for this key: %w", c.slot.serial(), c.pinError(err, false))
	}
	return nil
}
