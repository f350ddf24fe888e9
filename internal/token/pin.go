package token

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/miekg/pkcs11"
)

// checkLength refuses a PIN the card would refuse for its length, before
// the card sees it (and counts a try).
func checkLength(pin string, st PINState) error {
	if st.PINPad || st.MaxLength == 0 {
		return nil
	}
	if n := utf8.RuneCountInString(pin); n < st.MinLength || n > st.MaxLength {
		return &PINIncorrectError{BadLength: true, Min: st.MinLength, Max: st.MaxLength, CountLow: st.CountLow, FinalTry: st.FinalTry}
	}
	return nil
}

// pinError reads the retry flags after a refused PIN; so is true for the
// security officer's PIN (the PUK).
func (c *conn) pinError(err error, so bool) error {
	var rv pkcs11.Error
	if !errors.As(err, &rv) || rv != pkcs11.CKR_PIN_INCORRECT {
		return mapError(err)
	}
	e := &PINIncorrectError{}
	if ti, terr := c.p.GetTokenInfo(c.slot.id); terr == nil {
		low, final, locked := uint(pkcs11.CKF_USER_PIN_COUNT_LOW), uint(pkcs11.CKF_USER_PIN_FINAL_TRY), uint(pkcs11.CKF_USER_PIN_LOCKED)
		if so {
			low, final, locked = pkcs11.CKF_SO_PIN_COUNT_LOW, pkcs11.CKF_SO_PIN_FINAL_TRY, pkcs11.CKF_SO_PIN_LOCKED
		}
		e.CountLow, e.FinalTry = ti.Flags&low != 0, ti.Flags&final != 0
		if ti.Flags&locked != 0 {
			return &moduleError{ErrPINLocked, rv}
		}
	}
	return &moduleError{e, rv}
}

// ChangePIN replaces the user PIN with C_SetPIN. Both PINs are checked
// against the card's length limits first; a wrong old PIN is reported,
// never retried.
func (m *Manager) ChangePIN(ctx context.Context, serial, oldPIN, newPIN string) error {
	r, err := m.CardInfo(serial)
	if err != nil {
		return err
	}
	st := r.Card.PIN
	if st.Locked {
		return fmt.Errorf("change pin of %s: %w", r.Card.Serial, ErrPINLocked)
	}
	if err := checkLength(oldPIN, st); err != nil {
		return fmt.Errorf("change pin of %s: current pin: %w", r.Card.Serial, err)
	}
	if err := checkLength(newPIN, st); err != nil {
		return fmt.Errorf("change pin of %s: new pin: %w", r.Card.Serial, err)
	}
	return m.do(ctx, r.Card.Serial, func(c *conn) error {
		return guard0(c, func() error {
			err := c.p.SetPIN(c.sh, oldPIN, newPIN)
			if isRV(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
				// Some modules (NSS softokn) want the user logged in
				// first. The card has not checked the old PIN yet, so
				// logging in with it is its first and only try.
				if lerr := c.p.Login(c.sh, pkcs11.CKU_USER, oldPIN); lerr != nil && !isRV(lerr, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
					return fmt.Errorf("change pin of %s: %w", r.Card.Serial, c.pinError(lerr, false))
				}
				c.loggedIn = true
				err = c.p.SetPIN(c.sh, oldPIN, newPIN)
			}
			if err != nil {
				return fmt.Errorf("change pin of %s: %w", r.Card.Serial, c.pinError(err, false))
			}
			return nil
		})
	})
}

// UnblockPIN sets a new user PIN after the security officer's PIN (the
// PUK) unlocks the card: C_Login(CKU_SO), C_InitPIN, C_Logout.
func (m *Manager) UnblockPIN(ctx context.Context, serial, puk, newPIN string) error {
	r, err := m.CardInfo(serial)
	if err != nil {
		return err
	}
	if err := checkLength(newPIN, r.Card.PIN); err != nil {
		return fmt.Errorf("unblock pin of %s: new pin: %w", r.Card.Serial, err)
	}
	return m.do(ctx, r.Card.Serial, func(c *conn) error {
		return guard0(c, func() error {
			if yubicoPIV(c.slot) {
				// ykcs11's security officer is the management key; the PUK
				// goes through C_SetPIN with "puk:" and "pin:" prefixes.
				if err := c.p.SetPIN(c.sh, "puk:"+puk, "pin:"+newPIN); err != nil {
					return fmt.Errorf("unblock pin of %s: puk: %w", r.Card.Serial, c.pinError(err, true))
				}
				// ykcs11 keeps saying "locked" until a login succeeds.
				if err := c.p.Login(c.sh, pkcs11.CKU_USER, newPIN); err == nil {
					c.p.Logout(c.sh)
				}
				return nil
			}
			if err := c.p.Login(c.sh, pkcs11.CKU_SO, puk); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
				return fmt.Errorf("unblock pin of %s: puk: %w", r.Card.Serial, c.pinError(err, true))
			}
			defer c.p.Logout(c.sh)
			if err := c.p.InitPIN(c.sh, newPIN); err != nil {
				return fmt.Errorf("unblock pin of %s: %w", r.Card.Serial, mapError(err))
			}
			return nil
		})
	})
}
