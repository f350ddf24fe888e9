package token

import (
	"bytes"
	"crypto"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"
)

// RawResult is what RawSign measured.
type RawResult struct {
	Signatures int
	Elapsed    time.Duration
}

// Raw is the yardstick of the benchmark: the module used straight through
// PKCS#11, with none of cardbridge's layers. It lives here because this is
// the one package that speaks PKCS#11.
type Raw struct {
	p    *pkcs11.Ctx
	slot uint
}

// OpenRaw loads module on its own and finds the token with serial.
func OpenRaw(module, serial string) (*Raw, error) {
	p := pkcs11.New(module)
	if p == nil {
		return nil, fmt.Errorf("load %s", module)
	}
	if err := p.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p.Destroy()
		return nil, err
	}
	r := &Raw{p: p}
	slots, err := p.GetSlotList(true)
	if err != nil {
		r.Close()
		return nil, err
	}
	for _, sl := range slots {
		if ti, err := p.GetTokenInfo(sl); err == nil && bytes.Equal(bytes.TrimSpace([]byte(ti.SerialNumber)), []byte(serial)) {
			r.slot = sl
			return r, nil
		}
	}
	r.Close()
	return nil, fmt.Errorf("token %s: %w", serial, ErrCardNotPresent)
}

// Close unloads the module.
func (r *Raw) Close() {
	r.p.Finalize()
	r.p.Destroy()
}

func rawInput(ecdsa bool) ([]*pkcs11.Mechanism, []byte) {
	if ecdsa {
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, make([]byte, 32)
	}
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, append(append([]byte{}, digestInfoPrefix[crypto.SHA256]...), make([]byte, 32)...)
}

func (r *Raw) key(sh pkcs11.SessionHandle, id []byte) (pkcs11.ObjectHandle, error) {
	if err := r.p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}); err != nil {
		return 0, err
	}
	defer r.p.FindObjectsFinal(sh)
	hs, _, err := r.p.FindObjects(sh, 1)
	if err != nil || len(hs) == 0 {
		return 0, fmt.Errorf("private key %x: %v", id, err)
	}
	return hs[0], nil
}

// Sign logs in once and signs n digests in sessions parallel sessions.
func (r *Raw) Sign(pin string, id []byte, ecdsa bool, sessions, n int) (RawResult, error) {
	shs := make([]pkcs11.SessionHandle, sessions)
	var err error
	for i := range shs {
		if shs[i], err = r.p.OpenSession(r.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
			return RawResult{}, err
		}
		defer r.p.CloseSession(shs[i])
	}
	if err := r.p.Login(shs[0], pkcs11.CKU_USER, pin); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return RawResult{}, err
	}
	defer r.p.Logout(shs[0])
	mech, in := rawInput(ecdsa)
	start := time.Now()
	// In parallel as a batch in the daemon, with the same headroom: the
	// yardstick must not lose what the runtime's scheduling costs
	// cardbridge nothing.
	err = inParallel(shs, func(w int, sh pkcs11.SessionHandle) error {
		h, err := r.key(sh, id)
		if err != nil {
			return err
		}
		for i := w; i < n; i += sessions {
			if err := r.p.SignInit(sh, mech, h); err != nil {
				return err
			}
			if _, err := r.p.Sign(sh, in); err != nil {
				return err
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		return RawResult{}, err
	}
	return RawResult{Signatures: n, Elapsed: elapsed}, nil
}

// LoginSignLogout is the raw counterpart of one PIN-protected signature:
// open a session, log in, sign one digest, log out, close.
func (r *Raw) LoginSignLogout(pin string, id []byte, ecdsa bool) (time.Duration, error) {
	start := time.Now()
	sh, err := r.p.OpenSession(r.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, err
	}
	defer r.p.CloseSession(sh)
	if err := r.p.Login(sh, pkcs11.CKU_USER, pin); err != nil {
		return 0, err
	}
	h, err := r.key(sh, id)
	if err != nil {
		return 0, err
	}
	mech, in := rawInput(ecdsa)
	if err := r.p.SignInit(sh, mech, h); err != nil {
		return 0, err
	}
	if _, err := r.p.Sign(sh, in); err != nil {
		return 0, err
	}
	if err := r.p.Logout(sh); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
