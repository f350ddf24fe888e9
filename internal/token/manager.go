package token

import (
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Options configure a Manager.
type Options struct {
	// Modules are the PKCS#11 libraries the user named, each "PATH" or
	// "PATH;ARGS" (see ParseModuleSpec). One that fails to load is logged
	// as an error and left out; the others work on.
	Modules []string
	// Discovered are libraries found by Discover, in the same form; one
	// that fails to load is logged and skipped.
	Discovered []string
	Logger     *zap.Logger
	// ScanTimeout is how long a scan waits for one module's answer before
	// it reports the module's readers as not answering and goes on without
	// them; 0 means DefaultScanTimeout.
	ScanTimeout time.Duration
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

// DefaultScanTimeout bounds how long a request waits for a module that is
// loading or listing its slots. A reader that needs longer is reported as
// not answering, and its module keeps working in the background.
const DefaultScanTimeout = 2 * time.Second

// Manager owns the loaded modules, one lock per card, and the caches of
// what was read from the cards. See the package doc for the rules.
type Manager struct {
	log         *zap.Logger
	loginFault  func(string) uint
	scanTimeout time.Duration
	opTimeout   time.Duration

	modMu sync.RWMutex
	mods  []*module

	scans *cache[[]slot]    // one key: every slot of every module
	keys  *cache[[]KeyInfo] // by card key

	mu    sync.Mutex
	locks map[string]cardMutex // by card key
	algs  map[string][]string  // by algKey: a token's mechanisms do not change
}

// Open starts loading the modules named in opts and returns at once: each
// module is loaded and initialised in its own goroutine, so that the
// daemon can answer before a slow module has finished, and a module that
// cannot load is logged and skipped. Requests for cards wait for a loading
// module up to the scan timeout.
func Open(opts Options) (*Manager, error) {
	m := &Manager{
		log:         opts.Logger,
		loginFault:  opts.LoginFault,
		scanTimeout: opts.ScanTimeout,
		scans:       newCache[[]slot](scanTTL),
		keys:        newCache[[]KeyInfo](keysTTL),
		locks:       map[string]cardMutex{},
		opTimeout:   opts.OpTimeout,
		algs:        map[string][]string{},
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.scanTimeout <= 0 {
		m.scanTimeout = DefaultScanTimeout
	}
	if m.opTimeout <= 0 {
		m.opTimeout = DefaultOpTimeout
	}
	seen := map[string]bool{}
	add := func(s string, must bool) {
		spec := ParseModuleSpec(s)
		real, err := filepath.EvalSymlinks(spec.Path)
		if err != nil {
			real = spec.Path
		}
		if seen[real] {
			return
		}
		seen[real] = true
		m.mods = append(m.mods, newModule(spec, must))
	}
	for _, s := range opts.Modules {
		add(s, true)
	}
	for _, s := range opts.Discovered {
		add(s, false)
	}
	for _, mod := range m.mods {
		m.startScan(mod)
	}
	return m, nil
}

// AddModule loads one more module ("PATH" or "PATH;ARGS") and waits for it.
func (m *Manager) AddModule(spec string) error {
	mod := newModule(ParseModuleSpec(spec), true)
	err := mod.load()
	mod.sc.markLoaded()
	if err != nil {
		return err
	}
	m.modMu.Lock()
	m.mods = append(m.mods, mod)
	m.modMu.Unlock()
	m.scans.dropAll()
	return nil
}

func (m *Manager) modules() []*module {
	m.modMu.RLock()
	defer m.modMu.RUnlock()
	return m.mods
}

// Wait blocks until every module has finished loading, or failed to, or d
// has passed. One-shot commands use it; the daemon does not wait.
func (m *Manager) Wait(d time.Duration) {
	deadline := time.After(d)
	for _, mod := range m.modules() {
		select {
		case <-mod.sc.loadDone():
		case <-deadline:
			return
		}
	}
}

// Close finalises and unloads every module that is not stuck in a call.
func (m *Manager) Close() {
	m.modMu.Lock()
	mods := m.mods
	m.mods = nil
	m.modMu.Unlock()
	var wg sync.WaitGroup
	for _, mod := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mod.closeWithin(time.Second)
		}()
	}
	wg.Wait()
}

// Modules returns the paths of the modules that are loaded or loading.
func (m *Manager) Modules() []string {
	var out []string
	for _, mod := range m.modules() {
		if !mod.failed.Load() {
			out = append(out, mod.path)
		}
	}
	return out
}
