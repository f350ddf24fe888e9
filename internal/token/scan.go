package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// slot is one slot of one module as seen by a scan.
type slot struct {
	mod   *module
	gen   uint64 // the module's generation the scan saw
	id    uint
	info  pkcs11.SlotInfo
	token *pkcs11.TokenInfo // nil: no token, or one that is not initialised
	stale bool              // the slot answered with an error
}

// clean trims what C structures pad strings with: blanks, and NUL bytes
// from modules that fill with them.
func clean(s string) string { return strings.Trim(s, " \x00") }

func (s slot) serial() string { return clean(s.token.SerialNumber) }
func (s slot) reader() string { return clean(s.info.SlotDescription) }

// key names the card in a slot for the Manager's locks and caches.
func (s slot) key() string { return s.mod.path + "\x00" + s.serial() }

// slots lists every slot of mod. Uninitialised tokens in slots that are not
// readers (such as SoftHSM2's spare slot) are not cards and are left out.
func (mod *module) slots() ([]slot, error) {
	mod.rw.RLock()
	defer mod.rw.RUnlock()
	gen := mod.gen.Load()
	ids, err := mod.ctx.GetSlotList(false)
	if err != nil {
		return nil, fmt.Errorf("list slots of %s: %w", mod.name, mapError(err))
	}
	out := make([]slot, 0, len(ids))
	for _, id := range ids {
		si, err := mod.ctx.GetSlotInfo(id)
		if err != nil {
			continue
		}
		removable := si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0
		if removable {
			mod.removable.Store(true)
		}
		s := slot{mod: mod, gen: gen, id: id, info: si}
		if si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
			ti, err := mod.ctx.GetTokenInfo(id)
			switch {
			case err != nil:
				s.stale = true
			case ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0:
				if !removable {
					continue // a spare virtual slot, not a reader
				}
			default:
				s.token = &ti
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// scanTTL is how long a scan of the slots is reused. Pages poll cards.list
// and every request looks its card up; on a real reader each look is
// PC/SC traffic.
const scanTTL = 250 * time.Millisecond

// findTTL is how old a scan may be for finding a card a request names.
// On a PC/SC reader a scan costs tens of milliseconds (OpenSC asks pcscd
// about every reader), and a request must not pay that each time: the
// operation itself notices a card that left (and session checks that the
// card in the slot is still the one named), while cards.list, which
// shows the readers, keeps to scanTTL.
const findTTL = 2 * time.Second

// scan lists the slots of every module, from the cache when it is fresh. A
// module whose slots answered with errors is re-initialised (rate-limited)
// and read again.
func (m *Manager) scan() []slot { return m.scanWithin(scanTTL) }

// scanWithin is scan, content with a scan up to maxAge old.
func (m *Manager) scanWithin(maxAge time.Duration) []slot {
	ss, _ := m.scans.within("", maxAge, func() ([]slot, error) {
		var all []slot
		for _, mod := range m.mods {
			seen := mod.gen.Load()
			ss, err := mod.slots()
			if err != nil {
				m.log.Warn("list slots", zap.String("module", mod.path), zap.Error(err))
				continue
			}
			if anyStale(ss) {
				m.reinit(mod, seen)
				if ss, err = mod.slots(); err != nil {
					continue
				}
			}
			all = append(all, ss...)
		}
		return m.onePerReader(all), nil
	})
	return ss
}

// onePerReader keeps one slot for each card reader. Several modules may
// drive the same PC/SC reader (OpenSC and Yubico's ykcs11 both see a
// YubiKey), and a card must show once, under one serial. The slot kept is
// the one whose module can generate keys on the card (ykcs11 for a
// YubiKey's PIV application: OpenSC's PIV driver cannot), else the one of
// the module loaded first. Readers are told apart by their PC/SC name,
// which is unique on a machine; slots that are not removable (software
// tokens) are left as they are.
func (m *Manager) onePerReader(ss []slot) []slot {
	best := map[string]int{} // reader name → index in out
	out := ss[:0:0]
	for _, s := range ss {
		if s.info.Flags&pkcs11.CKF_REMOVABLE_DEVICE == 0 || s.reader() == "" {
			out = append(out, s)
			continue
		}
		i, seen := best[s.reader()]
		if !seen {
			best[s.reader()] = len(out)
			out = append(out, s)
			continue
		}
		if m.better(s, out[i]) {
			out[i] = s
		}
	}
	return out
}

// better reports whether slot a serves the card in a reader better than b.
func (m *Manager) better(a, b slot) bool {
	if (a.token != nil) != (b.token != nil) {
		return a.token != nil
	}
	return a.token != nil && len(m.algorithms(a)) > 0 && len(m.algorithms(b)) == 0
}

func anyStale(ss []slot) bool {
	for _, s := range ss {
		if s.stale {
			return true
		}
	}
	return false
}

// find returns the slot that holds the card with the given serial. An empty
// serial means "the only card present". When the card is not found, modules
// without removable slots (software tokens, which only see new tokens in
// C_Initialize) are re-initialised, at most once per reinitEvery, and the
// slots are read again.
func (m *Manager) find(serial string) (slot, error) {
	if serial != "" {
		if s, err := m.findIn(m.scanWithin(findTTL), serial); err == nil {
			return s, nil
		}
	}
	s, err := m.findIn(m.scan(), serial)
	if !errors.Is(err, ErrCardNotPresent) {
		return s, err
	}
	again := false
	for _, mod := range m.mods {
		if !mod.removable.Load() && time.Since(m.lastReinit(mod)) >= reinitEvery {
			m.reinit(mod, mod.gen.Load())
			again = true
		}
	}
	if !again {
		return s, err
	}
	return m.findIn(m.scan(), serial)
}

func (m *Manager) lastReinit(mod *module) time.Time {
	mod.reinitMu.Lock()
	defer mod.reinitMu.Unlock()
	return mod.lastReinit
}

func (m *Manager) findIn(ss []slot, serial string) (slot, error) {
	var match []slot
	for _, s := range ss {
		if s.token != nil && (serial == "" || s.serial() == serial) {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0 && serial == "":
		return slot{}, fmt.Errorf("find card: %w", ErrCardNotPresent)
	case len(match) == 0:
		return slot{}, fmt.Errorf("find card %s: %w", serial, ErrCardNotPresent)
	case serial == "":
		return slot{}, fmt.Errorf("find card: %w", ErrAmbiguousCard)
	}
	return slot{}, fmt.Errorf("find card %s: serial is not unique: %w", serial, ErrAmbiguousCard)
}

// softRescanEvery is how often Refresh re-initialises a module without
// removable slots to see new tokens.
const softRescanEvery = 2 * time.Second

// Refresh brings the modules' view of readers and cards up to date, for a
// caller that polls: PC/SC-based modules keep C_GetSlotList current, but a
// module with no removable slot (a software token such as SoftHSM2) only
// sees new tokens when re-initialised, which Refresh then does every
// softRescanEvery, and only between operations, so that a poll never makes
// a signature wait.
//
// C_WaitForSlotEvent would avoid polling, but miekg/pkcs11 v1.1.2 drops its
// return code, so whether a module supports it cannot be told apart from an
// event.
func (m *Manager) Refresh() {
	for _, mod := range m.mods {
		if !mod.removable.Load() && time.Since(m.lastReinit(mod)) >= softRescanEvery && mod.idle() {
			m.reinit(mod, mod.gen.Load())
		}
	}
}

// cardLock returns the lock of the card in s. Every session on a card
// holds it: cards do one thing at a time, and a login is the token's, not
// the session's.
func (m *Manager) cardLock(s slot) cardMutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[s.key()]
	if !ok {
		l = make(cardMutex, 1)
		m.locks[s.key()] = l
	}
	return l
}

// cardMutex is a card's lock. Waiting for it ends with the caller's
// context or after opTimeout: the holder may be stuck in a module call
// that never returns (OpenSC can hang in C_Sign when a card is pulled),
// and that must cost the waiter an error, not its request for good.
type cardMutex chan struct{}

func (l cardMutex) lock(ctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrCancelled, ctx.Err())
	case <-t.C:
		return ErrNotAnswering
	}
}

func (l cardMutex) unlock() { <-l }
