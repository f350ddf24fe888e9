package token

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// ModuleSpec names a PKCS#11 library and the initialisation arguments it
// needs, if any. Most modules take none; NSS's softokn needs its database
// (configdir='sql:DIR' …), and p11-kit passes a module's x-init-reserved.
// The arguments go to C_Initialize in CK_C_INITIALIZE_ARGS.pReserved.
type ModuleSpec struct {
	Path string
	Args string
}

// ParseModuleSpec reads "PATH" or "PATH;ARGS", the form --module takes. A
// path that exists as given is taken whole, so that a file name with a
// semicolon in it still works.
func ParseModuleSpec(s string) ModuleSpec {
	if _, err := os.Stat(s); err == nil {
		return ModuleSpec{Path: s}
	}
	path, args, _ := strings.Cut(s, ";")
	return ModuleSpec{Path: path, Args: strings.TrimSpace(args)}
}

// String is the spec in the form ParseModuleSpec reads.
func (s ModuleSpec) String() string {
	if s.Args == "" {
		return s.Path
	}
	return s.Path + ";" + s.Args
}

// ModulePath is the library path of a module spec string, for policy checks.
func ModulePath(spec string) string { return ParseModuleSpec(spec).Path }

// module is one loaded (or loading) PKCS#11 library.
//
// Loading, scanning and re-initialising a module happen in its own
// goroutine (see moduleScan), so a module that takes seconds to answer
// holds up only its own cards.
type module struct {
	spec ModuleSpec
	path string
	name string
	must bool // named by the user: a failure to load is an error in the log

	// ctx is set once C_Initialize succeeded; loaded says so. Until then,
	// and forever after a failed load, the module has no slots.
	ctx    *pkcs11.Ctx
	loaded atomic.Bool
	failed atomic.Bool
	closed atomic.Bool    // Close has run: a load that finishes later undoes itself
	args   unsafe.Pointer // C copy of spec.Args, or nil

	// rw is held for reading by every call into the module, and for
	// writing while it is re-initialised: C_Finalize invalidates every
	// session and handle of the process.
	rw  sync.RWMutex
	gen atomic.Uint64 // counts re-initialisations

	reinitMu   sync.Mutex
	lastReinit time.Time
	removable  atomic.Bool // a scan saw a slot with CKF_REMOVABLE_DEVICE

	sc moduleScans
}

func newModule(spec ModuleSpec, must bool) *module {
	return &module{spec: spec, path: spec.Path, name: filepath.Base(spec.Path), must: must}
}

// load opens the library and initialises it. It runs in the module's scan
// goroutine, so a module whose C_Initialize takes seconds delays nobody.
func (mod *module) load() error {
	ctx := pkcs11.New(mod.path)
	if ctx == nil {
		return fmt.Errorf("load pkcs11 module %s: cannot open library", mod.path)
	}
	if mod.spec.Args != "" {
		mod.args = cString(mod.spec.Args)
	}
	if err := mod.initialize(ctx); err != nil {
		ctx.Destroy()
		mod.freeArgs()
		return fmt.Errorf("initialise pkcs11 module %s: %w", mod.path, err)
	}
	mod.rw.Lock()
	defer mod.rw.Unlock()
	if mod.closed.Load() {
		ctx.Finalize()
		ctx.Destroy()
		mod.freeArgs()
		return fmt.Errorf("load pkcs11 module %s: closed while loading", mod.path)
	}
	mod.ctx = ctx
	mod.loaded.Store(true)
	return nil
}

// initialize calls C_Initialize, with the module's arguments in
// CK_C_INITIALIZE_ARGS.pReserved (miekg/pkcs11's InitializeWithReserved),
// as p11-kit does for x-init-reserved.
func (mod *module) initialize(ctx *pkcs11.Ctx) error {
	var opts []pkcs11.InitializeOption
	if mod.args != nil {
		opts = append(opts, pkcs11.InitializeWithReserved(mod.args))
	}
	err := ctx.Initialize(opts...)
	if err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return err
	}
	return nil
}

func (mod *module) freeArgs() {
	if mod.args != nil {
		freeCString(mod.args)
		mod.args = nil
	}
}

// closeWithin finalises and unloads the module, unless a call into it is
// still running after d: a module that hangs must not hang shutdown, and
// unloading a library a thread is inside would crash the process.
func (mod *module) closeWithin(d time.Duration) {
	mod.closed.Store(true) // a load still running undoes itself
	if !mod.loaded.Load() {
		mod.failed.Store(true)
		return
	}
	locked := make(chan struct{})
	go func() { mod.rw.Lock(); close(locked) }()
	select {
	case <-locked:
	case <-time.After(d):
		return
	}
	mod.ctx.Finalize()
	mod.ctx.Destroy()
	mod.loaded.Store(false)
	mod.failed.Store(true)
	mod.freeArgs()
	mod.rw.Unlock()
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
	if !mod.loaded.Load() {
		return
	}
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
	if !mod.loaded.Load() {
		mod.rw.Unlock()
		return
	}
	mod.ctx.Finalize()
	if err := mod.initialize(mod.ctx); err != nil {
		m.log.Warn("re-initialise pkcs11 module", zap.String("module", mod.path), zap.Error(err))
	}
	mod.gen.Add(1)
	mod.lastReinit = time.Now()
	mod.rw.Unlock()
	m.dropScans(mod)
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

func (m *Manager) lastReinit(mod *module) time.Time {
	mod.reinitMu.Lock()
	defer mod.reinitMu.Unlock()
	return mod.lastReinit
}

// idle reports that no call is in the module right now.
func (mod *module) idle() bool {
	if !mod.loaded.Load() || !mod.rw.TryLock() {
		return false
	}
	mod.rw.Unlock()
	return true
}
