package token

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// Session is an open, possibly logged-in session on one card. It is valid
// only inside the callback of Manager.Do, which holds the card for it.
type Session struct {
	ctx context.Context
	c   *conn
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
	// The same card, found again by its serial: it may have moved while
	// the user was typing.
	return m.do(ctx, s.serial(), true, func(c *conn) error {
		t0 := time.Now()
		err := c.login(ctx, cred)
		if cred.needed {
			t0 = tm.since(phaseLogin, t0)
		}
		if err != nil {
			return err
		}
		defer tm.since(phaseCard, t0)
		return fn(&Session{ctx: ctx, c: c})
	})
}

// Card describes the card the session is on.
func (s *Session) Card() Card { return s.c.m.card(s.c.slot) }

// Reader names the reader the card is in.
func (s *Session) Reader() string { return strings.TrimSpace(s.c.slot.info.SlotDescription) }

// Keys lists the key pairs on the card.
func (s *Session) Keys() ([]KeyInfo, error) { return s.c.keys() }

// GenerateKey creates a key pair on the card.
func (s *Session) GenerateKey(alg KeyAlgorithm, label string) (KeyInfo, error) {
	if !slices.Contains(s.c.m.algorithms(s.c.slot), alg.Name) {
		return KeyInfo{}, fmt.Errorf("generate %s key on %s: %w", alg.Name, s.c.slot.serial(), ErrUnsupported)
	}
	k, err := s.c.generate(alg, label)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("on %s: %w", s.c.slot.serial(), err)
	}
	return k, nil
}

// Sign signs each digest with the private key of k. ECDSA signatures come
// back DER-encoded.
func (s *Session) Sign(k KeyInfo, alg SignAlgorithm, digests [][]byte) ([][]byte, error) {
	return s.sign(k, alg, 0, digests)
}

func (s *Session) sign(k KeyInfo, alg SignAlgorithm, saltLen int, digests [][]byte) ([][]byte, error) {
	if err := CheckKeyFits(k, alg); err != nil {
		return nil, err
	}
	for i, d := range digests {
		if len(d) != alg.Hash.Size() {
			return nil, fmt.Errorf("sign digest %d: digest is %d bytes, %s needs %d: %w", i, len(d), alg.Name, alg.Hash.Size(), ErrInvalidInput)
		}
	}
	out := make([][]byte, len(digests))
	workers := 1
	if s.c.slot.mod.parallel && len(digests) >= 8 {
		workers = SignSessions()
	}
	if workers == 1 {
		return out, s.signRange(s.c.sh, k, alg, saltLen, digests, out, 0, 1)
	}
	// The login belongs to the token, so extra sessions of this process
	// share it; each takes every workers-th digest. All are open before
	// any signing starts, so a failure leaves nothing running.
	shs := []pkcs11.SessionHandle{s.c.sh}
	for len(shs) < workers {
		sh, err := s.c.p.OpenSession(s.c.slot.id, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			return nil, fmt.Errorf("open session on %s: %w", s.c.slot.serial(), mapError(err))
		}
		defer s.c.p.CloseSession(sh)
		shs = append(shs, sh)
	}
	err := inParallel(shs, func(w int, sh pkcs11.SessionHandle) error {
		return s.signRange(sh, k, alg, saltLen, digests, out, w, workers)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inParallel runs fn once per session, each in its own goroutine, with
// scheduling headroom (see withHeadroom), and returns the first session's
// error, if any.
func inParallel(shs []pkcs11.SessionHandle, fn func(w int, sh pkcs11.SessionHandle) error) error {
	errs := make([]error, len(shs))
	withHeadroom(len(shs), func() {
		var wg sync.WaitGroup
		for w, sh := range shs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = fn(w, sh)
			}()
		}
		wg.Wait()
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// maxParallel bounds the sessions one batch uses.
const maxParallel = 4

// cpus is the CPU count Go found at start: the machine's, a container's
// limit, or the user's GOMAXPROCS. withHeadroom raises GOMAXPROCS above it
// for a while.
var cpus = runtime.GOMAXPROCS(0)

// userProcs is set when the user chose GOMAXPROCS; it is then left alone.
var userProcs = os.Getenv("GOMAXPROCS") != ""

// SignSessions is how many sessions a batch uses on a module that computes
// in parallel: one per CPU, at most maxParallel.
func SignSessions() int { return min(cpus, maxParallel) }

// headroom counts the Ps that batches signing now have added.
var headroom struct {
	sync.Mutex
	extra int
}

// withHeadroom runs f, which signs in n sessions at once, with n more Ps
// than CPUs. A signing goroutine spends nearly all its time in the
// module's C code and comes back to Go twice per signature. When no P is
// idle, the runtime takes the P of a goroutine in a long C call away, and
// the goroutine queues for one on its way back: with one P per CPU that
// cost 10–20 % of a SoftHSM2 batch, more while other requests kept the Ps
// busy. The threads in C count against no limit, so the extra Ps only let
// them go on at once. Only while batches run: an idle daemon keeps the
// default, and fewer threads.
func withHeadroom(n int, f func()) {
	if userProcs || n < 2 {
		f()
		return
	}
	add := func(d int) {
		headroom.Lock()
		defer headroom.Unlock()
		headroom.extra += d
		runtime.GOMAXPROCS(cpus + min(headroom.extra, 4*maxParallel))
	}
	add(n)
	defer add(-n)
	f()
}

// signRange signs digests[first], digests[first+step], … into out, in
// session sh.
func (s *Session) signRange(sh pkcs11.SessionHandle, k KeyInfo, alg SignAlgorithm, saltLen int, digests, out [][]byte, first, stride int) error {
	h, err := s.c.findPrivateKey(sh, k.ID)
	if err != nil {
		return fmt.Errorf("sign on %s: %w", s.c.slot.serial(), err)
	}
	for i := first; i < len(digests); i += stride {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrCancelled, err)
		}
		mech, in, err := signInput(alg, digests[i], saltLen)
		if err != nil {
			return fmt.Errorf("sign digest %d: %w", i, err)
		}
		if err := s.c.p.SignInit(sh, []*pkcs11.Mechanism{mech}, h); err != nil {
			return fmt.Errorf("sign digest %d on %s: %w", i, s.c.slot.serial(), mapError(err))
		}
		sig, err := s.c.p.Sign(sh, in)
		if err != nil {
			return fmt.Errorf("sign digest %d on %s: %w", i, s.c.slot.serial(), mapError(err))
		}
		if !alg.RSA {
			if sig, err = ecdsaDER(sig); err != nil {
				return fmt.Errorf("sign digest %d on %s: %w", i, s.c.slot.serial(), err)
			}
		}
		out[i] = sig
	}
	return nil
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

// Signer returns a crypto.Signer for k that signs within this session.
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
