package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// ReaderStatus says why a reader shows no card although one may be in it.
type ReaderStatus string

const (
	// ReaderNotAnswering: the module did not answer for this reader (or,
	// before it listed any, for itself) within the scan timeout.
	ReaderNotAnswering ReaderStatus = "notAnswering"
	// ReaderUnsupported: the module does not recognise the card in the
	// reader (CKR_TOKEN_NOT_RECOGNIZED).
	ReaderUnsupported ReaderStatus = "unsupported"

	readerPending ReaderStatus = "pending" // token info asked for, no answer yet
	readerSpare   ReaderStatus = "spare"   // an uninitialised virtual slot
)

// slot is one slot of one module as seen by a scan.
type slot struct {
	mod    *module
	gen    uint64 // the module's generation the scan saw
	id     uint
	info   pkcs11.SlotInfo
	token  *pkcs11.TokenInfo // nil: no usable token
	stale  bool              // the slot answered with an error
	status ReaderStatus
	whole  bool   // stands for a module that has not listed its slots
	card   string // the card's name; see assignCardIDs
}

// clean trims what C structures pad strings with: blanks, and NUL bytes
// from modules that fill with them.
func clean(s string) string { return strings.Trim(s, " \x00") }

// serial is the name of the card in s: its token serial, made unique where
// cards share one (see cardid.go). Requests name cards by it.
func (s slot) serial() string { return s.card }

// tokenSerial is the serial the token reports.
func (s slot) tokenSerial() string { return clean(s.token.SerialNumber) }

func (s slot) reader() string {
	if s.whole {
		return s.mod.name
	}
	return clean(s.info.SlotDescription)
}

// key names the card in s for the Manager's locks and caches.
func (s slot) key() string { return s.mod.path + "\x00" + s.card }

// scanTTL is how long a scan of the slots is reused. Pages poll cards.list
// and every request looks its card up; on a real reader each look is
// PC/SC traffic.
const scanTTL = 250 * time.Millisecond

// scan lists the slots of every module, from the cache when it is fresh,
// asking the modules in parallel; see modscan.go for how long it waits for
// each.
func (m *Manager) scan() []slot { return m.scanning(false) }

// scanning is scan; with fresh set it does not take a module's last scan
// while a new one runs (see staleFor).
func (m *Manager) scanning(fresh bool) []slot {
	key := ""
	if fresh {
		key = "fresh"
	}
	ss, _ := m.scans.get(key, func() ([]slot, error) {
		mods := m.modules()
		views := make([][]slot, len(mods))
		var wg sync.WaitGroup
		for i, mod := range mods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				views[i] = m.moduleView(mod, fresh)
			}()
		}
		wg.Wait()
		var all []slot
		for _, v := range views {
			all = append(all, v...)
		}
		all = m.onePerReader(all)
		assignCardIDs(all)
		return all, nil
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
	return a.token != nil && len(m.knownAlgorithms(a)) > 0 && len(m.knownAlgorithms(b)) == 0
}

func anyStale(ss []slot) bool {
	for _, s := range ss {
		if s.stale {
			return true
		}
	}
	return false
}

// find returns the slot that holds the named card (see cardid.go). An
// empty name means "the only card present". When the card is not found,
// modules without removable slots (software tokens, which only see new
// tokens in C_Initialize) are re-initialised, at most once per
// reinitEvery, and the slots are read again.
func (m *Manager) find(serial string) (slot, error) {
	if s, ok := m.awaitKnown(serial); ok {
		return s, nil
	}
	s, err := m.findIn(m.scan(), serial)
	if !errors.Is(err, ErrCardNotPresent) {
		return s, err
	}
	// A card just inserted may not be in the scans a request may take
	// while new ones run.
	if s, err = m.findIn(m.scanning(true), serial); !errors.Is(err, ErrCardNotPresent) {
		return s, err
	}
	again := false
	for _, mod := range m.modules() {
		if m.mayReinit(mod, reinitEvery) {
			m.reinit(mod, mod.gen.Load())
			again = true
		}
	}
	if !again {
		return s, err
	}
	return m.findIn(m.scanning(true), serial)
}

// findKnown looks a named card up in the modules' last valid scans, without
// waiting for any module, so that a request for a software token (SoftHSM2,
// a TPM, NSS) never waits for another module that is loading or listing
// readers. It also returns the modules whose last scan is missing or no
// longer holds (after a write, a login or a re-initialisation): the card
// may be in one of them. A card in a reader is taken only when there are
// none (onePerReader must see every module to choose the one that serves
// the card) and its module's scan is at most staleFor old; do checks that
// the slot still holds the card asked for.
func (m *Manager) findKnown(serial string) (slot, bool, []*module) {
	var all []slot
	var unsettled []*module
	for _, mod := range m.modules() {
		ss, state := m.knownView(mod)
		if state != viewValid {
			unsettled = append(unsettled, mod)
		}
		all = append(all, ss...)
	}
	all = m.onePerReader(all)
	assignCardIDs(all)
	s, err := m.findIn(all, serial)
	if err != nil {
		return slot{}, false, unsettled
	}
	if s.info.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0 && (len(unsettled) > 0 || !m.recent(s.mod)) {
		return slot{}, false, unsettled
	}
	return s, true, unsettled
}

// awaitKnown is findKnown, also waiting, up to the scan timeout, for the
// modules it could not take from their last scan: as each one finishes a
// new scan, the card is looked for again. So a request for a software
// token waits for its own module (right after start, or after the login of
// the last request), not for a slow one.
func (m *Manager) awaitKnown(serial string) (slot, bool) {
	if serial == "" {
		return slot{}, false
	}
	deadline := time.NewTimer(m.scanTimeout)
	defer deadline.Stop()
	stop := make(chan struct{})
	defer close(stop)
	for {
		s, ok, unsettled := m.findKnown(serial)
		if ok || len(unsettled) == 0 {
			return s, ok
		}
		next := make(chan struct{}, len(unsettled))
		waiting := 0
		for _, mod := range unsettled {
			done, ok := m.rescanning(mod)
			if !ok {
				continue
			}
			waiting++
			go func() {
				select {
				case <-done:
					next <- struct{}{}
				case <-stop:
				}
			}()
		}
		if waiting == 0 {
			return slot{}, false
		}
		select {
		case <-next:
		case <-deadline.C:
			return slot{}, false
		}
	}
}

// rescanning returns the end of mod's running scan, starting one if none
// runs, unless mod is slow: nobody waits for a slow module, which is
// scanned again on its own schedule (moduleView).
func (m *Manager) rescanning(mod *module) (<-chan struct{}, bool) {
	mod.sc.mu.Lock()
	last := mod.sc.last
	mod.sc.mu.Unlock()
	if last != nil && last.took() > m.scanTimeout {
		return nil, false
	}
	return m.startScan(mod).done, true
}

// recent says whether mod's last scan is at most staleFor old: a card in a
// reader may have left since.
func (m *Manager) recent(mod *module) bool {
	mod.sc.mu.Lock()
	defer mod.sc.mu.Unlock()
	return mod.sc.last != nil && time.Since(mod.sc.last.end) < staleFor
}

// mayReinit says whether mod is a software token that may be
// re-initialised now: loaded, idle, not slow, and not re-initialised in
// the last period.
func (m *Manager) mayReinit(mod *module, period time.Duration) bool {
	if mod.removable.Load() || time.Since(m.lastReinit(mod)) < period || !mod.idle() {
		return false
	}
	mod.sc.mu.Lock()
	defer mod.sc.mu.Unlock()
	return mod.sc.cur == nil && (mod.sc.last == nil || mod.sc.last.took() <= m.scanTimeout)
}

func (m *Manager) findIn(ss []slot, serial string) (slot, error) {
	var match, shared []slot
	for _, s := range ss {
		if s.token == nil {
			continue
		}
		if serial == "" || s.serial() == serial {
			match = append(match, s)
		} else if s.tokenSerial() == serial {
			shared = append(shared, s)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0 && len(shared) > 0:
		var names []string
		for _, s := range shared {
			names = append(names, s.serial())
		}
		return slot{}, fmt.Errorf("find card %s: several cards have this serial; name one of %s: %w", serial, strings.Join(names, ", "), ErrAmbiguousCard)
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
	for _, mod := range m.modules() {
		if m.mayReinit(mod, softRescanEvery) {
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
