package token

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// Options configure a Manager.
type Options struct {
	// Modules are the PKCS#11 libraries to load. Each must load.
	Modules []string
	// Discovered are libraries found by Discover; one that fails to load is
	// logged and skipped.
	Discovered []string
	Logger     *zap.Logger
	// LoginFault, when set, is asked before every C_Login and may return a
	// CKR_* code that then stands in for the card's answer. It is the seam
	// for tests of states SoftHSM2 cannot reach, such as a locked PIN.
	LoginFault func(serial string) uint
}

// Manager owns the loaded modules and serialises work per card.
type Manager struct {
	log        *zap.Logger
	mods       []*module
	loginFault func(string) uint

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per module path + serial
	algs  map[string][]string    // per module path + serial: a token's mechanisms do not change

	keysCache   map[string]keysEntry // per module path + serial; see Keys
	changes     map[string]uint64    // writes (or failures) finished, per card
	cardChanges uint64               // exclusive operations finished, over all cards
	scanCache   *scanEntry           // see scan

	// One reader refreshes a dropped scan or key list while the others
	// wait for its result: after every write, pages that poll would
	// otherwise all read the card at once.
	scanFlight sync.Mutex
	keysFlight map[string]*sync.Mutex // per module path + serial
}

type module struct {
	path string
	name string
	ctx  *pkcs11.Ctx
	// parallel: the module runs operations of several sessions at once.
	// Smart cards do one thing at a time; software tokens do not have to.
	parallel bool

	// rw is held for reading by every operation and for writing while the
	// module is re-initialised.
	rw     sync.RWMutex
	scanMu sync.Mutex
	gen    atomic.Uint64 // counts re-initialisations

	lastPoll time.Time // last re-initialisation by Refresh; Refresh is called from one goroutine
}

// softRescanEvery is how often Refresh re-initialises a module without
// removable slots to see new tokens.
const softRescanEvery = 2 * time.Second

// Open loads the modules named in opts.
func Open(opts Options) (*Manager, error) {
	m := &Manager{log: opts.Logger, loginFault: opts.LoginFault, locks: map[string]*sync.Mutex{}, algs: map[string][]string{}, keysCache: map[string]keysEntry{}, changes: map[string]uint64{}, keysFlight: map[string]*sync.Mutex{}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	loaded := map[string]bool{}
	load := func(path string, must bool) error {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			real = path
		}
		if loaded[real] {
			return nil
		}
		mod, err := loadModule(path)
		if err != nil {
			if must {
				return err
			}
			m.log.Warn("skipping pkcs11 module", zap.String("module", path), zap.Error(err))
			return nil
		}
		loaded[real] = true
		m.mods = append(m.mods, mod)
		m.log.Info("loaded pkcs11 module", zap.String("module", path))
		return nil
	}
	for _, p := range opts.Modules {
		if err := load(p, true); err != nil {
			m.Close()
			return nil, err
		}
	}
	for _, p := range opts.Discovered {
		load(p, false)
	}
	return m, nil
}

func loadModule(path string) (*module, error) {
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("load pkcs11 module %s: cannot open library", path)
	}
	if err := ctx.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("initialise pkcs11 module %s: %w", path, err)
	}
	mod := &module{path: path, name: filepath.Base(path), ctx: ctx}
	// No PKCS#11 flag says whether a token computes in parallel, so known
	// software tokens are named here; every other module is serialised.
	if info, err := ctx.GetInfo(); err == nil && strings.Contains(info.ManufacturerID, "SoftHSM") {
		mod.parallel = true
	}
	return mod, nil
}

// AddModule loads one more module. Call it before the Manager is shared.
func (m *Manager) AddModule(path string) error {
	mod, err := loadModule(path)
	if err != nil {
		return err
	}
	m.mods = append(m.mods, mod)
	return nil
}

// Close finalises and unloads every module.
func (m *Manager) Close() {
	for _, mod := range m.mods {
		mod.rw.Lock()
		mod.ctx.Finalize()
		mod.ctx.Destroy()
		mod.rw.Unlock()
	}
	m.mods = nil
}

// Modules returns the paths of the loaded modules.
func (m *Manager) Modules() []string {
	var out []string
	for _, mod := range m.mods {
		out = append(out, mod.path)
	}
	return out
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// rescan re-initialises mod so that it sees tokens that appeared since it
// was loaded, unless that already happened since the caller looked at
// generation seen. Callers that raced for it share one re-initialisation.
func (mod *module) rescan(log *zap.Logger, seen uint64) {
	mod.scanMu.Lock()
	defer mod.scanMu.Unlock()
	if mod.gen.Load() != seen {
		return
	}
	mod.rw.Lock()
	defer mod.rw.Unlock()
	mod.ctx.Finalize()
	if err := mod.ctx.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		log.Warn("re-initialise pkcs11 module", zap.String("module", mod.path), zap.Error(err))
	}
	mod.gen.Add(1)
}

// slot is one slot of one module as seen by a scan.
type slot struct {
	mod   *module
	id    uint
	info  pkcs11.SlotInfo
	token *pkcs11.TokenInfo // nil: no token, or one that is not initialised
	stale bool              // the slot answered with an error
}

// slots lists every slot of mod. Uninitialised tokens (such as SoftHSM2's
// spare slot) are not cards and come back without a token.
func (mod *module) slots() ([]slot, error) {
	mod.rw.RLock()
	defer mod.rw.RUnlock()
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
		s := slot{mod: mod, id: id, info: si}
		if si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
			ti, err := mod.ctx.GetTokenInfo(id)
			switch {
			case err != nil:
				s.stale = true
			case ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0:
				if si.Flags&pkcs11.CKF_REMOVABLE_DEVICE == 0 && strings.TrimSpace(ti.SerialNumber) == "" {
					// A virtual spare slot, not a reader: leave it out.
					continue
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
// and every request looks its card up; slot and token information is PC/SC
// traffic on a real reader.
const scanTTL = 250 * time.Millisecond

// scanEntry is a reused scan and what it was taken after.
type scanEntry struct {
	at      time.Time
	gens    []uint64
	changes uint64
	slots   []slot
}

// scan lists the slots of every module, re-initialising a module whose
// slots went stale when rescan is set. A scan younger than scanTTL is
// reused unless a module was re-initialised or a card was written since.
func (m *Manager) scan(rescan bool) []slot {
	gens := make([]uint64, len(m.mods))
	fresh := func() ([]slot, uint64, bool) {
		for i, mod := range m.mods {
			gens[i] = mod.gen.Load()
		}
		m.mu.Lock()
		e, changes := m.scanCache, m.cardChanges
		m.mu.Unlock()
		if e != nil && e.changes == changes && time.Since(e.at) < scanTTL && slices.Equal(e.gens, gens) {
			return e.slots, changes, true
		}
		return nil, changes, false
	}
	if ss, _, ok := fresh(); ok {
		return ss
	}
	m.scanFlight.Lock()
	defer m.scanFlight.Unlock()
	ss, changes, ok := fresh()
	if ok {
		return ss // another reader just scanned
	}
	var all []slot
	for _, mod := range m.mods {
		seen := mod.gen.Load()
		ss, err := mod.slots()
		if err != nil {
			m.log.Warn("list slots", zap.String("module", mod.path), zap.Error(err))
			continue
		}
		if rescan && anyStale(ss) {
			mod.rescan(m.log, seen)
			if ss, err = mod.slots(); err != nil {
				continue
			}
		}
		all = append(all, ss...)
	}
	for i, mod := range m.mods {
		gens[i] = mod.gen.Load()
	}
	if !anyStale(all) {
		m.mu.Lock()
		m.scanCache = &scanEntry{at: time.Now(), gens: gens, changes: changes, slots: all}
		m.mu.Unlock()
	}
	return all
}

// changed records that an exclusive operation on a card finished, so that
// a reused scan (token info: PIN counters, flags) is dropped. objects says
// that the card's objects may have changed too (a write, or a failure,
// which may mean the card went), which also drops its key list; a login
// and a signature leave the objects as they were.
func (m *Manager) changed(s slot, objects bool) {
	m.mu.Lock()
	if objects {
		m.changes[s.key()]++
	}
	m.cardChanges++
	m.mu.Unlock()
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
// serial means "the only card present". A card that is not found makes the
// modules look again once, since some only see new tokens after
// re-initialisation.
func (m *Manager) find(serial string) (slot, error) {
	seen := make([]uint64, len(m.mods))
	for i, mod := range m.mods {
		seen[i] = mod.gen.Load()
	}
	s, err := m.findOnce(serial)
	if !errors.Is(err, ErrCardNotPresent) {
		return s, err
	}
	for i, mod := range m.mods {
		mod.rescan(m.log, seen[i])
	}
	return m.findOnce(serial)
}

func (m *Manager) findOnce(serial string) (slot, error) {
	var match []slot
	for _, s := range m.scan(false) {
		if s.token == nil {
			continue
		}
		if serial == "" || strings.TrimSpace(s.token.SerialNumber) == serial {
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

// key names the card in a slot for the Manager's maps.
func (s slot) key() string { return s.mod.path + "\x00" + s.serial() }

func (m *Manager) cardLock(s slot) *sync.Mutex {
	key := s.key()
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[key]
	if !ok {
		l = &sync.Mutex{}
		m.locks[key] = l
	}
	return l
}

// do runs fn with a fresh read-write session on the card. An exclusive
// operation (one that logs in or writes) holds the card's lock; so does
// every operation on a module that does one thing at a time. Failures of a
// card that has gone become ErrCardRemoved.
func (m *Manager) do(ctx context.Context, serial string, exclusive bool, fn func(c *conn) error) error {
	s, err := m.find(serial)
	if err != nil {
		return err
	}
	if exclusive || !s.mod.parallel {
		lock := m.cardLock(s)
		lock.Lock()
		defer lock.Unlock()
	}
	var c *conn
	if exclusive {
		// A login or a write may change what is on the card and what
		// its token info says.
		defer func() { m.changed(s, c == nil || c.wrote) }()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	s.mod.rw.RLock()
	defer s.mod.rw.RUnlock()
	p := s.mod.ctx
	sh, err := p.OpenSession(s.id, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		m.changed(s, true)
		return m.gone(s, fmt.Errorf("open session on %s: %w", s.serial(), mapError(err)))
	}
	c = &conn{m: m, slot: s, p: p, sh: sh}
	err = fn(c)
	if c.loggedIn {
		p.Logout(sh)
	}
	p.CloseSession(sh)
	if err != nil {
		m.changed(s, true) // a failure may mean the card went: look again
		return m.gone(s, err)
	}
	return nil
}

// gone re-labels err as ErrCardRemoved when the card has left its slot,
// whatever code the module chose to report that with.
func (m *Manager) gone(s slot, err error) error {
	if errors.Is(err, ErrCardRemoved) {
		return err
	}
	ti, terr := s.mod.ctx.GetTokenInfo(s.id)
	if terr != nil || strings.TrimSpace(ti.SerialNumber) != s.serial() {
		return fmt.Errorf("%w: %w", ErrCardRemoved, err)
	}
	return err
}

func (s slot) serial() string { return strings.TrimSpace(s.token.SerialNumber) }

// Refresh brings the modules' view of readers and cards up to date, for a
// caller that polls: PC/SC-based modules keep C_GetSlotList current, but a
// module with no removable slot (a software token such as SoftHSM2) only
// sees new tokens when re-initialised, which Refresh then does.
//
// C_WaitForSlotEvent would avoid polling, but miekg/pkcs11 v1.1.2 drops its
// return code, so whether a module supports it cannot be told apart from an
// event.
func (m *Manager) Refresh() {
	for _, mod := range m.mods {
		seen := mod.gen.Load()
		ss, err := mod.slots()
		if err != nil {
			continue
		}
		removable := false
		for _, s := range ss {
			if s.info.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0 {
				removable = true
			}
		}
		switch {
		case anyStale(ss):
			mod.rescan(m.log, seen)
		case !removable && time.Since(mod.lastPoll) >= softRescanEvery && mod.idle():
			// Only between operations: a poll must never make a
			// signature wait. And not on every poll: re-reading every
			// token file twice a second costs CPU for a token that only
			// changes when someone runs softhsm2-util.
			mod.lastPoll = time.Now()
			mod.rescan(m.log, seen)
		}
	}
}

// idle reports that no operation holds the module right now.
func (mod *module) idle() bool {
	if !mod.rw.TryLock() {
		return false
	}
	mod.rw.Unlock()
	return true
}
