package token

import (
	"sync"
	"time"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// Each module is loaded and scanned in a goroutine of its own, one scan at
// a time, and a request waits for a module's answer only up to the scan
// timeout. A module whose scan took longer than that is "slow": requests
// then use its last finished scan at once, and it is scanned again in the
// background at most every slowRescanEvery. So a reader that OpenSC needs
// seconds to give up on, or a vendor module whose C_Initialize blocks,
// shows as "not answering" and delays no other card.

// slowRescanEvery is how often a slow module is scanned again.
const slowRescanEvery = time.Second

// staleFor is how old a module's last scan may be and still answer a
// request at once, while the module is scanned again in the background: a
// request for one module's card then never waits for another module's
// readers. A write, a login, a failure or a re-initialisation makes the
// module's last scan invalid at once (dropScans), and a card that is not
// found is looked for again in fresh scans (find), so only another
// program's changes can take this long to show.
const staleFor = time.Second

// moduleScans is the scan state of one module.
type moduleScans struct {
	mu       sync.Mutex
	cur      *modScan // running now, or nil
	last     *modScan // the last one that finished
	epoch    uint64   // bumped by dropScans: scans of older epochs are invalid
	loaded   chan struct{}
	loadOnce sync.Once
}

// loadDone is closed once the module has loaded or failed to.
func (s *moduleScans) loadDone() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded == nil {
		s.loaded = make(chan struct{})
	}
	return s.loaded
}

func (s *moduleScans) markLoaded() {
	ch := s.loadDone()
	s.loadOnce.Do(func() { close(ch) })
}

// modScan is one scan of one module. slots and listed fill in while it
// runs (under moduleScans.mu), so that a scan stuck on one reader can
// still name it.
type modScan struct {
	start, end time.Time
	epoch      uint64
	done       chan struct{}
	listed     bool // the slot list is known
	slots      []slot
	err        error
}

func (sc *modScan) finished() bool {
	select {
	case <-sc.done:
		return true
	default:
		return false
	}
}

func (sc *modScan) took() time.Duration { return sc.end.Sub(sc.start) }

func (sc *modScan) isListed(mod *module) bool {
	mod.sc.mu.Lock()
	defer mod.sc.mu.Unlock()
	return sc.listed
}

// startScan starts a scan of mod unless one is running, and returns the
// running one.
func (m *Manager) startScan(mod *module) *modScan {
	mod.sc.mu.Lock()
	defer mod.sc.mu.Unlock()
	if mod.sc.cur != nil {
		return mod.sc.cur
	}
	sc := &modScan{start: time.Now(), done: make(chan struct{}), epoch: mod.sc.epoch}
	mod.sc.cur = sc
	go m.runScan(mod, sc)
	return sc
}

// runScan loads mod if it is not loaded yet, then lists its slots. A
// module whose slots answer with errors is re-initialised (rate-limited)
// and listed again.
func (m *Manager) runScan(mod *module, sc *modScan) {
	var ss []slot
	var err error
	if !mod.loaded.Load() && !mod.failed.Load() {
		err = mod.load()
		if err != nil {
			mod.failed.Store(true)
			if mod.must {
				m.log.Error("cannot load pkcs11 module; going on without it", zap.String("module", mod.spec.Path), zap.Error(err))
			} else {
				m.log.Warn("skipping pkcs11 module", zap.String("module", mod.spec.Path), zap.Error(err))
			}
		} else {
			m.log.Info("loaded pkcs11 module", zap.String("module", mod.spec.Path), zap.Duration("took", time.Since(sc.start)))
		}
		mod.sc.markLoaded()
	}
	if err == nil && mod.loaded.Load() {
		seen := mod.gen.Load()
		ss, err = mod.slots(sc)
		if err == nil && anyStale(ss) {
			m.reinit(mod, seen)
			ss, err = mod.slots(sc)
		}
		if err != nil {
			m.log.Warn("list slots", zap.String("module", mod.path), zap.Error(err))
		}
		m.learnAlgorithms(mod, ss)
	}
	mod.sc.mu.Lock()
	sc.slots, sc.err, sc.end = ss, err, time.Now()
	mod.sc.last, mod.sc.cur = sc, nil
	mod.sc.mu.Unlock()
	close(sc.done)
}

// dropScans makes mod's last scan invalid, and the Manager's: what the
// module shows may have changed.
func (m *Manager) dropScans(mod *module) {
	mod.sc.mu.Lock()
	mod.sc.epoch++
	mod.sc.mu.Unlock()
	m.scans.dropAll()
}

// moduleView is what a scan reports for mod: its last scan if that is
// fresh, or recent enough while a new one runs (unless fresh is set); else
// a scan that finishes in time; or, for a module that does not answer in
// time, the readers it is stuck on, marked as not answering.
func (m *Manager) moduleView(mod *module, fresh bool) []slot {
	for try := 0; ; try++ {
		if mod.failed.Load() {
			return nil
		}
		mod.sc.mu.Lock()
		cur, last, epoch := mod.sc.cur, mod.sc.last, mod.sc.epoch
		mod.sc.mu.Unlock()
		valid := last != nil && last.epoch == epoch
		if valid && time.Since(last.end) < scanTTL {
			return m.finishedView(mod, last)
		}
		slow := last != nil && last.took() > m.scanTimeout
		if cur == nil && (!slow || time.Since(last.end) >= slowRescanEvery) {
			cur = m.startScan(mod)
		}
		if valid && !fresh && time.Since(last.end) < staleFor {
			return m.finishedView(mod, last)
		}
		if cur == nil {
			return m.finishedView(mod, last)
		}
		if wait := m.scanTimeout - time.Since(cur.start); wait > 0 && !slow {
			t := time.NewTimer(wait)
			select {
			case <-cur.done:
			case <-t.C:
			}
			t.Stop()
		}
		switch {
		case cur.finished() && cur.epoch != epoch && try == 0:
			continue // it started before a drop: once more
		case cur.finished():
			return m.finishedView(mod, cur)
		case last != nil && time.Since(cur.start) < m.scanTimeout:
			return m.finishedView(mod, last)
		}
		return m.stuckView(mod, cur, last)
	}
}

// A module's last scan, as findKnown sees it.
type viewState int

const (
	viewValid   viewState = iota // no write, login or re-initialisation since
	viewPending                  // the module has not finished a scan yet, or failed to load
	viewInvalid                  // it has, but its last scan no longer holds
)

// knownView is mod's last scan without waiting or starting one.
func (m *Manager) knownView(mod *module) ([]slot, viewState) {
	if mod.failed.Load() {
		return nil, viewValid // no slots, for good
	}
	mod.sc.mu.Lock()
	last, epoch := mod.sc.last, mod.sc.epoch
	mod.sc.mu.Unlock()
	switch {
	case last == nil:
		return nil, viewPending
	case last.epoch != epoch:
		return nil, viewInvalid
	}
	return m.finishedView(mod, last), viewValid
}

// finishedView is the slots of a finished scan. In a scan that took longer
// than the timeout, a reader with a card that gave no usable token info is
// reported as not answering: it is what held the scan up.
func (m *Manager) finishedView(mod *module, sc *modScan) []slot {
	if mod.failed.Load() || sc == nil {
		return nil
	}
	mod.sc.mu.Lock()
	out := append([]slot(nil), sc.slots...)
	mod.sc.mu.Unlock()
	if sc.took() > m.scanTimeout {
		for i := range out {
			if out[i].token == nil && out[i].status != "" {
				out[i].status = ReaderNotAnswering
			}
		}
	}
	return out
}

// stuckFor is how long a scan may hang in C_GetSlotList before the cards
// of the module's last scan are no longer shown: OpenSC lists its slots
// only after it has tried every driver on every new card, which on a slow
// card it does not know takes many seconds, each time it is asked.
const stuckFor = 30 * time.Second

// stuckView describes a module whose scan has not finished within the
// timeout: the readers it listed so far, those still being asked marked
// as not answering; or, before it has listed any, its last scan (whose
// slow readers finishedView marks), until stuckFor, and then that scan's
// readers without cards; or the module itself, as not answering.
func (m *Manager) stuckView(mod *module, cur, last *modScan) []slot {
	if !cur.isListed(mod) && last != nil && time.Since(cur.start) < stuckFor {
		return m.finishedView(mod, last)
	}
	mod.sc.mu.Lock()
	defer mod.sc.mu.Unlock()
	var out []slot
	if cur.listed {
		for _, s := range cur.slots {
			switch s.status {
			case readerSpare:
				continue
			case readerPending:
				s.status = ReaderNotAnswering
			}
			out = append(out, s)
		}
		return out
	}
	if last != nil && len(last.slots) > 0 {
		for _, s := range last.slots {
			s.token, s.status = nil, ReaderNotAnswering
			out = append(out, s)
		}
		return out
	}
	return []slot{{mod: mod, status: ReaderNotAnswering, whole: true}}
}

// slots lists every slot of mod, publishing its progress in sc.
// Uninitialised tokens in slots that are not readers (such as SoftHSM2's
// spare slot) are not cards and are left out.
func (mod *module) slots(sc *modScan) ([]slot, error) {
	mod.rw.RLock()
	defer mod.rw.RUnlock()
	gen := mod.gen.Load()
	ids, err := mod.ctx.GetSlotList(false)
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]slot, 0, len(ids))
	for _, id := range ids {
		si, err := mod.ctx.GetSlotInfo(id)
		if err != nil {
			continue
		}
		s := slot{mod: mod, gen: gen, id: id, info: si}
		if si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0 {
			mod.removable.Store(true)
		}
		if si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
			s.status = readerPending
		}
		out = append(out, s)
	}
	mod.sc.mu.Lock()
	sc.slots, sc.listed = append([]slot(nil), out...), true
	mod.sc.mu.Unlock()
	keep := out[:0]
	for i, s := range out {
		if s.status == readerPending {
			ti, err := mod.ctx.GetTokenInfo(s.id)
			s.status = ""
			switch {
			case isRV(err, pkcs11.CKR_TOKEN_NOT_RECOGNIZED):
				s.status = ReaderUnsupported
			case err != nil:
				s.stale = true
			case ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0:
				if s.info.Flags&pkcs11.CKF_REMOVABLE_DEVICE == 0 {
					s.status = readerSpare
				}
			default:
				s.token = &ti
			}
			mod.sc.mu.Lock()
			sc.slots[i] = s
			mod.sc.mu.Unlock()
		}
		if s.status != readerSpare {
			keep = append(keep, s)
		}
	}
	return keep, nil
}
