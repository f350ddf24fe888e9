//go:build unix

package bench

import (
	"bytes"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"
)

// Raw is the benchmark's yardstick: the module driven straight through
// PKCS#11 in this process, with none of cardbridge's layers. It is the one
// PKCS#11 user outside internal/token, because "raw PKCS#11" is what it
// measures.
type Raw struct {
	p    *pkcs11.Ctx
	slot uint
}

func OpenRaw(module, serial string) (*Raw, error) {
	p := pkcs11.New(module)
	if p == nil {
		return nil, fmt.Errorf("load %s", module)
	}
	if err := p.Initialize(); err != nil {
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
		if ti, err := p.GetTokenInfo(sl); err == nil && string(bytes.TrimSpace([]byte(ti.SerialNumber))) == serial {
			r.slot = sl
			return r, nil
		}
	}
	r.Close()
	return nil, fmt.Errorf("token %s not found", serial)
}

func (r *Raw) Close() {
	r.p.Finalize()
	r.p.Destroy()
}

// rawBatch is one batch signed the raw way.
type rawBatch struct {
	total time.Duration // login to logout
	sign  time.Duration // the signatures alone
}

// batch opens a session, logs in, signs n digests one after the other,
// logs out and closes the session, as cardbridge does for one request.
func (r *Raw) batch(pin string, id []byte, ec bool, n int) (rawBatch, error) {
	t0 := time.Now()
	sh, err := r.p.OpenSession(r.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return rawBatch{}, err
	}
	defer r.p.CloseSession(sh)
	if err := r.p.Login(sh, pkcs11.CKU_USER, pin); err != nil {
		return rawBatch{}, err
	}
	defer r.p.Logout(sh)
	if err := r.p.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}); err != nil {
		return rawBatch{}, err
	}
	hs, _, err := r.p.FindObjects(sh, 1)
	r.p.FindObjectsFinal(sh)
	if err != nil || len(hs) == 0 {
		return rawBatch{}, fmt.Errorf("private key %x not found: %v", id, err)
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	in := make([]byte, 32)
	if !ec {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
		in = make([]byte, 51) // a SHA-256 DigestInfo
	}
	t1 := time.Now()
	for i := 0; i < n; i++ {
		in[len(in)-1] = byte(i)
		if err := r.p.SignInit(sh, mech, hs[0]); err != nil {
			return rawBatch{}, err
		}
		if _, err := r.p.Sign(sh, in); err != nil {
			return rawBatch{}, err
		}
	}
	signed := time.Since(t1)
	r.p.Logout(sh)
	return rawBatch{total: time.Since(t0), sign: signed}, nil
}

// ListKeys does what a key list does on the card, straight through the
// module: a session, the public key and certificate objects and their
// attributes.
func (r *Raw) ListKeys() (int, error) {
	sh, err := r.p.OpenSession(r.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return 0, err
	}
	defer r.p.CloseSession(sh)
	n := 0
	for _, class := range []uint{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_CERTIFICATE} {
		if err := r.p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}); err != nil {
			return 0, err
		}
		hs, _, err := r.p.FindObjects(sh, 64)
		r.p.FindObjectsFinal(sh)
		if err != nil {
			return 0, err
		}
		for _, h := range hs {
			if _, err := r.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil), pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err != nil && class == pkcs11.CKO_CERTIFICATE {
				return 0, err
			}
		}
		n += len(hs)
	}
	return n, nil
}
