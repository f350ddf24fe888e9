package token

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// PIV cards (YubiKeys and government PIV cards) keep keys in fixed slots,
// and PKCS#11 modules name the slots by CKA_ID: 1 is 9a, 2 is 9c, 3 is 9d,
// 4 is 9e, in Yubico's ykcs11 and OpenSC alike. Writing to them takes the
// card's management key (a login as security officer), not the PIN.

// Purposes name the PIV slots a page may ask for in keys.generate.
var pivPurposes = map[string]pivSlot{
	"authenticate": {1, "9a"},
	"sign":         {2, "9c"},
	"decrypt":      {3, "9d"},
}

// DefaultPurpose is the slot a key goes to when the page names none: 9a,
// PIV authentication, whose key needs the PIN once per use like any other
// card's, and serves for signing and decryption alike. 9c asks for the PIN
// before every signature.
const DefaultPurpose = "authenticate"

type pivSlot struct {
	id   byte
	name string
}

// DefaultManagementKey is the management key of a YubiKey as it leaves the
// factory (3DES), in hex, which is what ykcs11 takes as the SO PIN.
const DefaultManagementKey = "010203040506070801020304050607080102030405060708"

// ErrSlotFull says that the PIV slot a key was asked for holds one already.
var ErrSlotFull = errors.New("the card's slot for this purpose already holds a key")

// GenerateOptions are what keys.generate may add to the algorithm and label.
type GenerateOptions struct {
	// Purpose picks the slot on a PIV card: "authenticate" (9a), "sign"
	// (9c) or "decrypt" (9d); "" is DefaultPurpose. Other cards have no
	// fixed slots and ignore it.
	Purpose string
	// Replace lets a key replace one in a full PIV slot; the caller has
	// asked the user.
	Replace bool
}

// SecretFunc asks the user for a secret other than the PIN, such as a PIV
// card's management key. It is only called when the default is refused.
type SecretFunc func(ctx context.Context) (string, error)

type mgmtKeyKey struct{}

// WithManagementKey returns a context in which writes to a PIV card that
// refuses the default management key ask ask for it.
func WithManagementKey(ctx context.Context, ask SecretFunc) context.Context {
	return context.WithValue(ctx, mgmtKeyKey{}, ask)
}

// PIVSlot returns the slot name ("9a") of a purpose, and whether the
// purpose is known.
func PIVSlot(purpose string) (string, bool) {
	if purpose == "" {
		purpose = DefaultPurpose
	}
	s, ok := pivPurposes[purpose]
	return s.name, ok
}

// fixedSlots reports a card whose keys live in PIV slots.
func (s slot) fixedSlots() bool {
	m := clean(s.token.ManufacturerID)
	return strings.HasPrefix(m, "Yubico") || m == "piv_II"
}

// SlotInUse returns the key in the PIV slot of purpose, if there is one.
func (s *Session) SlotInUse(purpose string) (KeyInfo, bool, error) {
	if err := s.check(); err != nil {
		return KeyInfo{}, false, err
	}
	type inUse struct {
		k    KeyInfo
		full bool
	}
	r, err := guard(s.c, func() (inUse, error) {
		k, full, err := s.slotInUse(purpose)
		return inUse{k, full}, err
	})
	return r.k, r.full, err
}

func (s *Session) slotInUse(purpose string) (KeyInfo, bool, error) {
	ps, ok := pivPurposes[orDefault(purpose)]
	if !ok || !s.c.slot.fixedSlots() {
		return KeyInfo{}, false, nil
	}
	keys, err := s.c.keys()
	if err != nil {
		return KeyInfo{}, false, err
	}
	for _, k := range keys {
		if len(k.ID) == 1 && k.ID[0] == ps.id {
			return k, true, nil
		}
	}
	return KeyInfo{}, false, nil
}

// SlotInUse reports, without a PIN, whether the PIV slot of purpose on the
// card holds a key; false on cards without fixed slots.
func (m *Manager) SlotInUse(ctx context.Context, serial, purpose string) (bool, error) {
	ps, ok := pivPurposes[orDefault(purpose)]
	if !ok {
		return false, nil
	}
	keys, err := m.Keys(ctx, serial)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if len(k.ID) == 1 && k.ID[0] == ps.id {
			return true, nil
		}
	}
	return false, nil
}

func orDefault(purpose string) string {
	if purpose == "" {
		return DefaultPurpose
	}
	return purpose
}

// generatePIV makes a key pair in the slot of opts.Purpose, as security
// officer.
func (s *Session) generatePIV(alg KeyAlgorithm, opts GenerateOptions) (KeyInfo, error) {
	ps, ok := pivPurposes[orDefault(opts.Purpose)]
	if !ok {
		return KeyInfo{}, fmt.Errorf("purpose %q: %w", opts.Purpose, ErrInvalidInput)
	}
	if _, full, err := s.slotInUse(opts.Purpose); err != nil {
		return KeyInfo{}, err
	} else if full && !opts.Replace {
		return KeyInfo{}, fmt.Errorf("slot %s: %w", ps.name, ErrSlotFull)
	}
	c := s.c
	id := []byte{ps.id}
	pub := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	priv := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	mech, pub, priv, err := withAlgorithm(alg, pub, priv)
	if err != nil {
		return KeyInfo{}, err
	}
	var hpub pkcs11.ObjectHandle
	err = s.asOfficer(func() error {
		c.wrote = true
		var err error
		hpub, _, err = c.p.GenerateKeyPair(c.sh, []*pkcs11.Mechanism{mech}, pub, priv)
		if err != nil {
			return fmt.Errorf("generate %s key in slot %s: %w", alg.Name, ps.name, mapError(err))
		}
		return nil
	})
	if err != nil {
		return KeyInfo{}, err
	}
	k, err := c.publicKey(hpub)
	if err != nil {
		// A handle from before the logins may be gone: look it up again.
		keys, kerr := c.keys()
		if kerr != nil {
			return KeyInfo{}, fmt.Errorf("read generated %s key: %w", alg.Name, err)
		}
		for _, kk := range keys {
			if len(kk.ID) == 1 && kk.ID[0] == ps.id {
				return kk, nil
			}
		}
		return KeyInfo{}, fmt.Errorf("read generated %s key: %w", alg.Name, err)
	}
	return *k, nil
}

// asOfficer runs fn logged in as the card's security officer with the
// management key: the factory default first, then, when the card refuses
// it, the one the user types (see WithManagementKey). The user's login is
// set aside meanwhile and restored after, with the PIN typed for this
// request. A refused key is reported, never retried.
func (s *Session) asOfficer(fn func() error) error {
	c := s.c
	if c.loggedIn {
		c.p.Logout(c.sh)
		c.loggedIn = false
	}
	err := c.p.Login(c.sh, pkcs11.CKU_SO, DefaultManagementKey)
	if isRV(err, pkcs11.CKR_PIN_INCORRECT) {
		ask, _ := s.ctx.Value(mgmtKeyKey{}).(SecretFunc)
		if ask == nil {
			return fmt.Errorf("management key of %s: the default is refused: %w", c.slot.serial(), ErrUnsupported)
		}
		key, aerr := ask(s.ctx)
		if aerr != nil {
			return aerr
		}
		err = c.p.Login(c.sh, pkcs11.CKU_SO, strings.TrimSpace(key))
	}
	if err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return fmt.Errorf("management key of %s: %w", c.slot.serial(), c.pinError(err, true))
	}
	ferr := fn()
	c.p.Logout(c.sh)
	if c.pin != "" || c.slot.token.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0 {
		if err := c.p.Login(c.sh, pkcs11.CKU_USER, c.pin); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
			return errors.Join(ferr, fmt.Errorf("log in to %s again: %w", c.slot.serial(), c.pinError(err, false)))
		}
		c.loggedIn = true
	}
	return ferr
}

// yubicoPIV reports a card driven by Yubico's ykcs11, whose security
// officer is the management key rather than the PUK.
func yubicoPIV(s slot) bool { return strings.HasPrefix(clean(s.token.ManufacturerID), "Yubico") }
