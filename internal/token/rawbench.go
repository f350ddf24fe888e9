package token

import (
	"bytes"
	"crypto"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// RawResult is what RawSign measured.
type RawResult struct {
	Signatures int
	Elapsed    time.Duration
}

// RawSign is the yardstick of the benchmark: it signs n digests with the
// key id on the token with serial, straight through PKCS#11 in sessions
// parallel sessions, with none of cardbridge's layers, and logs in and out
// around it. It lives here because this is the one package that speaks
// PKCS#11.
func RawSign(module, serial, pin string, id []byte, ecdsa bool, sessions, n int) (RawResult, error) {
	p := pkcs11.New(module)
	if p == nil {
		return RawResult{}, fmt.Errorf("load %s", module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return RawResult{}, err
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		return RawResult{}, err
	}
	var slot uint
	found := false
	for _, sl := range slots {
		if ti, err := p.GetTokenInfo(sl); err == nil && bytes.Equal(bytes.TrimSpace([]byte(ti.SerialNumber)), []byte(serial)) {
			slot, found = sl, true
		}
	}
	if !found {
		return RawResult{}, fmt.Errorf("token %s: %w", serial, ErrCardNotPresent)
	}
	shs := make([]pkcs11.SessionHandle, sessions)
	for i := range shs {
		if shs[i], err = p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
			return RawResult{}, err
		}
		defer p.CloseSession(shs[i])
	}
	start := time.Now()
	if err := p.Login(shs[0], pkcs11.CKU_USER, pin); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return RawResult{}, err
	}
	defer p.Logout(shs[0])
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
	in := append(append([]byte{}, digestInfoPrefix[crypto.SHA256]...), make([]byte, 32)...)
	if ecdsa {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
		in = make([]byte, 32)
	}
	var wg sync.WaitGroup
	errs := make([]error, sessions)
	for w, sh := range shs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}); err != nil {
				errs[w] = err
				return
			}
			hs, _, err := p.FindObjects(sh, 1)
			p.FindObjectsFinal(sh)
			if err != nil || len(hs) == 0 {
				errs[w] = fmt.Errorf("private key: %v", err)
				return
			}
			for i := w; i < n; i += sessions {
				if err := p.SignInit(sh, mech, hs[0]); err != nil {
					errs[w] = err
					return
				}
				if _, err := p.Sign(sh, in); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return RawResult{}, err
		}
	}
	return RawResult{Signatures: n, Elapsed: time.Since(start)}, nil
}
