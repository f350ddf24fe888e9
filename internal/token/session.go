package token

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// ErrSessionClosed is returned by a Session, or a Signer taken from one,
// that is used after its Manager.Do has returned.
var ErrSessionClosed = errors.New("session is closed")

// Session is an open, possibly logged-in session on one card. It is valid
// only inside the callback of Manager.Do, which holds the card for it;
// afterwards every method returns ErrSessionClosed.
type Session struct {
	ctx    context.Context
	c      *conn
	closed atomic.Bool
}

func (s *Session) check() error {
	if s.closed.Load() {
		return ErrSessionClosed
	}
	return s.ctx.Err()
}

// Do runs fn on the card with the given serial ("" for the only card
// present). When login is not nil the user is logged in first, and always
// logged out again before Do returns.
func (m *Manager) Do(ctx context.Context, serial string, login LoginFunc, fn func(*Session) error) error {
	s, err := m.find(serial)
	if err != nil {
		return err
	}
	tm := timingOf(ctx)
	var cred credential
	if login != nil {
		t0 := time.Now()
		cred, err = m.askPIN(ctx, s, login)
		tm.since(phasePIN, t0)
		if err != nil {
			return err
		}
	}
	sess := &Session{ctx: ctx}
	defer sess.closed.Store(true)
	// The same card, found again by its serial: it may have moved while
	// the user was typing.
	return m.do(ctx, s.serial(), func(c *conn) error {
		t0 := time.Now()
		err := guard0(c, func() error { return c.login(ctx, cred) })
		if cred.needed {
			t0 = tm.since(phaseLogin, t0)
		}
		if err != nil {
			return err
		}
		defer tm.since(phaseCard, t0)
		sess.c = c
		return fn(sess)
	})
}

// do runs fn with a fresh read-write session on the card, holding the
// card's lock. Failures of a card that has gone become ErrCardRemoved.
// Waiting for a card that another operation holds ends with ctx or after
// opTimeout (ErrNotAnswering): that operation may be stuck in the module.
func (m *Manager) do(ctx context.Context, serial string, fn func(c *conn) error) error {
	s, err := m.find(serial)
	if err != nil {
		return err
	}
	lock := m.cardLock(s)
	if err := lock.lock(ctx, m.opTimeout); err != nil {
		return fmt.Errorf("card %s: %w", s.serial(), err)
	}
	return m.session(ctx, s, lock, fn)
}

// session opens a session on the card in s, runs fn in it, closes it and
// releases lock. When a call of the session was given up on (see guard),
// the session, its login, the module's read lock and the card's lock are
// released only once that call returns, by a goroutine that waits for it.
func (m *Manager) session(ctx context.Context, s slot, lock cardMutex, fn func(c *conn) error) (err error) {
	if err := ctx.Err(); err != nil {
		lock.unlock()
		return fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	s.mod.rw.RLock()
	if s.mod.gen.Load() != s.gen {
		// Re-initialised since the scan: slot IDs may have changed.
		s.mod.rw.RUnlock()
		again, err := m.find(s.serial())
		if err != nil {
			lock.unlock()
			return err
		}
		s = again
		s.mod.rw.RLock()
	}
	p := s.mod.ctx
	c := &conn{m: m, slot: s, p: p}
	var opened bool
	defer func() {
		release := func() {
			if opened {
				if c.loggedIn {
					p.Logout(c.sh)
				}
				p.CloseSession(c.sh)
			}
			s.mod.rw.RUnlock()
			lock.unlock()
		}
		if done := c.stuck.get(); done != nil {
			m.log.Warn("card operation given up; the card is held until the module returns", zap.String("token_serial", s.serial()),
				zap.String("module", s.mod.path), zap.Duration("after", m.opTimeout))
			// The read lock stays held too, so the module is not
			// re-initialised under the call.
			m.dropCard(s)
			go func() {
				<-done
				release()
				m.dropCard(s)
			}()
			return
		}
		release()
		// A login changes what the token info says (PIN counters); a
		// write, or a failure, which may mean the card went, changes its
		// objects.
		if c.loggedIn || c.wrote || err != nil {
			m.dropScans(s.mod)
		}
		if c.wrote || err != nil {
			m.keys.drop(s.key())
		}
	}()
	// The slot came from a scan that may be a while old (see findKnown):
	// make sure it still holds the card that was named, not one put in
	// its place since.
	err = guard0(c, func() error {
		sh, err := p.OpenSession(s.id, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return m.gone(s, fmt.Errorf("open session on %s: %w", s.serial(), mapError(err)))
		}
		c.sh, opened = sh, true
		if ti, terr := p.GetTokenInfo(s.id); terr != nil || clean(ti.SerialNumber) != s.tokenSerial() || clean(ti.Label) != clean(s.token.Label) {
			return fmt.Errorf("open session on %s: %w", s.serial(), ErrCardRemoved)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err = fn(c); err != nil {
		return m.gone(s, err)
	}
	return nil
}

// dropCard forgets what was read from the card in s.
func (m *Manager) dropCard(s slot) {
	m.dropScans(s.mod)
	m.keys.drop(s.key())
}

// gone re-labels err as ErrCardRemoved when the card has left its slot,
// whatever code the module chose to report that with.
func (m *Manager) gone(s slot, err error) error {
	if errors.Is(err, ErrCardRemoved) {
		return err
	}
	ti, terr := s.mod.ctx.GetTokenInfo(s.id)
	if terr != nil || clean(ti.SerialNumber) != s.tokenSerial() || clean(ti.Label) != clean(s.token.Label) {
		return fmt.Errorf("%w: %w", ErrCardRemoved, err)
	}
	return err
}

// Keys lists the key pairs on the card.
func (s *Session) Keys() ([]KeyInfo, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return guard(s.c, s.c.keys)
}

// GenerateKey creates a key pair on the card: in the PIV slot of
// opts.Purpose on a PIV card, under a fresh CKA_ID elsewhere.
func (s *Session) GenerateKey(alg KeyAlgorithm, label string, opts GenerateOptions) (KeyInfo, error) {
	if err := s.check(); err != nil {
		return KeyInfo{}, err
	}
	if !slices.Contains(s.c.m.algorithms(s.c.slot), alg.Name) {
		return KeyInfo{}, fmt.Errorf("generate %s key on %s: %w", alg.Name, s.c.slot.serial(), ErrUnsupported)
	}
	k, err := guard(s.c, func() (KeyInfo, error) {
		if s.c.slot.fixedSlots() {
			return s.generatePIV(alg, opts)
		}
		return s.c.generate(alg, label)
	})
	if err != nil {
		return KeyInfo{}, fmt.Errorf("on %s: %w", s.c.slot.serial(), err)
	}
	return k, nil
}

// Sign signs each digest with the private key of k, one after the other in
// this session. ECDSA signatures come back DER-encoded.
func (s *Session) Sign(k KeyInfo, alg SignAlgorithm, digests [][]byte) ([][]byte, error) {
	return s.sign(k, alg, 0, digests)
}

func (s *Session) sign(k KeyInfo, alg SignAlgorithm, saltLen int, digests [][]byte) ([][]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := CheckKeyFits(k, alg); err != nil {
		return nil, err
	}
	for i, d := range digests {
		if len(d) != alg.Hash.Size() {
			return nil, fmt.Errorf("sign digest %d: digest is %d bytes, %s needs %d: %w", i, len(d), alg.Name, alg.Hash.Size(), ErrInvalidInput)
		}
	}
	return guard(s.c, func() ([][]byte, error) { return s.signAll(k, alg, saltLen, digests) })
}

// signAll signs the checked digests one after the other.
func (s *Session) signAll(k KeyInfo, alg SignAlgorithm, saltLen int, digests [][]byte) ([][]byte, error) {
	c := s.c
	h, err := c.privateKey(k.ID)
	if err != nil {
		return nil, fmt.Errorf("sign on %s: %w", c.slot.serial(), err)
	}
	always := c.alwaysAuthenticate(h)
	out := make([][]byte, len(digests))
	for i, d := range digests {
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCancelled, err)
		}
		mech, in, err := signInput(alg, d, saltLen)
		if err != nil {
			return nil, fmt.Errorf("sign digest %d: %w", i, err)
		}
		if err := c.p.SignInit(c.sh, []*pkcs11.Mechanism{mech}, h); err != nil {
			return nil, fmt.Errorf("sign digest %d on %s: %w", i, c.slot.serial(), mapError(err))
		}
		if always {
			if err := c.contextLogin(); err != nil {
				return nil, fmt.Errorf("sign digest %d: %w", i, err)
			}
		}
		sig, err := c.p.Sign(c.sh, in)
		if err != nil {
			return nil, fmt.Errorf("sign digest %d on %s: %w", i, c.slot.serial(), mapError(err))
		}
		if !alg.RSA {
			if sig, err = ecdsaDER(sig); err != nil {
				return nil, fmt.Errorf("sign digest %d on %s: %w", i, c.slot.serial(), err)
			}
		}
		out[i] = sig
	}
	return out, nil
}

// CheckKeyFits reports ErrUnsupported when alg cannot be used with k, such
// as an ECDSA scheme with an RSA key.
func CheckKeyFits(k KeyInfo, alg SignAlgorithm) error {
	_, isRSA := k.Public.(*rsa.PublicKey)
	if isRSA != alg.RSA {
		return fmt.Errorf("%s with a %s key: %w", alg.Name, k.Algorithm, ErrUnsupported)
	}
	return nil
}

// CheckMechanism reports ErrUnsupported when the card lacks the mechanism
// alg needs. Callers use it to refuse before asking for a PIN.
func (m *Manager) CheckMechanism(serial string, alg SignAlgorithm) error {
	sl, err := m.find(serial)
	if err != nil {
		return err
	}
	mech := uint(pkcs11.CKM_RSA_PKCS)
	switch {
	case !alg.RSA:
		mech = pkcs11.CKM_ECDSA
	case alg.PSS:
		mech = pkcs11.CKM_RSA_PKCS_PSS
	}
	sl.mod.rw.RLock()
	defer sl.mod.rw.RUnlock()
	mi, err := sl.mod.ctx.GetMechanismInfo(sl.id, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)})
	if err != nil || mi.Flags&pkcs11.CKF_SIGN == 0 {
		return fmt.Errorf("%s on %s: %w", alg.Name, sl.serial(), ErrUnsupported)
	}
	return nil
}

// Signer returns a crypto.Signer for k that signs within this session, and
// fails with ErrSessionClosed once Do has returned.
func (s *Session) Signer(k KeyInfo) crypto.Signer { return &sessionSigner{s: s, k: k} }

type sessionSigner struct {
	s *Session
	k KeyInfo
}

func (ss *sessionSigner) Public() crypto.PublicKey { return ss.k.Public }

func (ss *sessionSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, salt, err := algForOpts(ss.k, opts)
	if err != nil {
		return nil, err
	}
	sigs, err := ss.s.sign(ss.k, alg, salt, [][]byte{digest})
	if err != nil {
		return nil, err
	}
	return sigs[0], nil
}

// Key is a key pair on a card, usable as a crypto.Signer outside a
// session: each Sign takes the card, logs in through its LoginFunc, signs
// and logs out.
type Key struct {
	m      *Manager
	serial string
	info   KeyInfo
	login  LoginFunc
	ctx    context.Context
}

var _ crypto.Signer = (*Key)(nil)

// Signer returns k as a crypto.Signer.
func (m *Manager) Signer(ctx context.Context, serial string, k KeyInfo, login LoginFunc) *Key {
	return &Key{m: m, serial: serial, info: k, login: login, ctx: ctx}
}

// Public returns the public half of the key.
func (k *Key) Public() crypto.PublicKey { return k.info.Public }

// Sign signs digest on the card. opts picks the hash and, with
// *rsa.PSSOptions, RSA-PSS.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	err = k.m.Do(k.ctx, k.serial, k.login, func(s *Session) error {
		sig, err = s.Signer(k.info).Sign(rand, digest, opts)
		return err
	})
	return sig, err
}

// algForOpts maps crypto.SignerOpts onto one of our schemes.
func algForOpts(k KeyInfo, opts crypto.SignerOpts) (SignAlgorithm, int, error) {
	_, isRSA := k.Public.(*rsa.PublicKey)
	pss, isPSS := opts.(*rsa.PSSOptions)
	salt := 0
	if isPSS && pss.SaltLength > 0 {
		salt = pss.SaltLength
	}
	for _, a := range SignAlgorithms {
		if a.RSA == isRSA && a.PSS == isPSS && a.Hash == opts.HashFunc() {
			return a, salt, nil
		}
	}
	return SignAlgorithm{}, 0, fmt.Errorf("sign with %s and hash %v: %w", k.Algorithm, opts.HashFunc(), ErrUnsupported)
}
