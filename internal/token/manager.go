package token

import (
	"errors"
	"fmt"
	"path/filepath"
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
	// OpTimeout bounds one operation on a card once it holds the card,
	// and the wait for a card another operation holds; 0 is
	// DefaultOpTimeout.
	OpTimeout time.Duration
}

// DefaultOpTimeout is longer than any card takes for one operation (RSA
// key generation on a slow card takes a minute) or a batch of 1000
// signatures on a fast one.
const DefaultOpTimeout = 3 * time.Minute

// Manager owns the loaded modules, one lock per card, and the caches of
// what was read from the cards. See the package doc for the rules.
type Manager struct {
	log        *zap.Logger
	mods       []*module
	loginFault func(string) uint
	opTimeout  time.Duration

	scans *cache[[]slot]    // one key: every slot of every module
	keys  *cache[[]KeyInfo] // by card key

	mu    sync.Mutex
	locks map[string]cardMutex // by card key
	algs  map[string][]string  // by card key: a token's mechanisms do not change
}

type module struct {
	path string
	name string
	ctx  *pkcs11.Ctx

	// rw is held for reading by every call into the module, and for
	// writing while it is re-initialised: C_Finalize invalidates every
	// session and handle of the process.
	rw  sync.RWMutex
	gen atomic.Uint64 // counts re-initialisations

	reinitMu   sync.Mutex
	lastReinit time.Time
	removable  atomic.Bool // a scan saw a slot with CKF_REMOVABLE_DEVICE
}

// Open loads the modules named in opts.
func Open(opts Options) (*Manager, error) {
	m := &Manager{
		log:        opts.Logger,
		loginFault: opts.LoginFault,
		scans:      newCache[[]slot](scanTTL),
		keys:       newCache[[]KeyInfo](keysTTL),
		locks:      map[string]cardMutex{},
		opTimeout:  opts.OpTimeout,
		algs:       map[string][]string{},
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.opTimeout <= 0 {
		m.opTimeout = DefaultOpTimeout
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
	return &module{path: path, name: filepath.Base(path), ctx: ctx}, nil
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

// reinitEvery bounds how often a module is re-initialised, whatever asks
// for it: a page polling for a card that is not there must not make the
// module start over on every request.
const reinitEvery = time.Second

// reinit re-initialises mod so that it sees tokens that appeared since it
// was loaded, unless that happened since the caller saw generation seen or
// less than reinitEvery ago. It waits for the module's calls in flight.
func (m *Manager) reinit(mod *module, seen uint64) {
	mod.reinitMu.Lock()
	defer mod.reinitMu.Unlock()
	if mod.gen.Load() != seen || time.Since(mod.lastReinit) < reinitEvery {
		return
	}
	// Only between calls, and without waiting long: a call stuck in the
	// module must not take the re-initialisation, and with it every
	// later call of the module, along.
	if !tryLock(&mod.rw, 2*time.Second) {
		m.log.Warn("module busy; not re-initialised", zap.String("module", mod.path))
		return
	}
	mod.ctx.Finalize()
	if err := mod.ctx.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		m.log.Warn("re-initialise pkcs11 module", zap.String("module", mod.path), zap.Error(err))
	}
	mod.gen.Add(1)
	mod.lastReinit = time.Now()
	mod.rw.Unlock()
	m.scans.dropAll()
	m.keys.dropAll()
}

// tryLock takes l for writing if it can within wait.
func tryLock(l *sync.RWMutex, wait time.Duration) bool {
	for deadline := time.Now().Add(wait); ; time.Sleep(5 * time.Millisecond) {
		if l.TryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// idle reports that no call is in the module right now.
func (mod *module) idle() bool {
	if !mod.rw.TryLock() {
		return false
	}
	mod.rw.Unlock()
	return true
}
