// Package rpc carries out cardbridge's JSON-RPC methods for one caller at a
// time, whatever transport brought the request. It asks for consent and
// PINs through a pin.Prompter and does card work through token.Manager.
//
// Transports authenticate the caller's origin; this package trusts the
// origin it is given and decides what that origin may do.
package rpc

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

// Caller is who sent a request.
type Caller struct {
	// Origin is the page's canonical origin, as vouched for by the
	// transport (the WebSocket Origin header, or the browser through the
	// extension).
	Origin string
	// Via names the transport for the audit log: "websocket",
	// "extension" or "tray".
	Via string
	// Notifier pushes notifications to the caller's connection; nil
	// where the transport cannot.
	Notifier *Notifier
}

// Notifier pushes notifications to one connection, in the order they were
// made; its pointer is the connection's identity for subscriptions.
type Notifier struct {
	Send func(any)

	mu      sync.Mutex
	queue   []any
	sending bool
}

// maxQueued bounds the notifications waiting for a slow connection. Each
// cards.changed carries the whole state, so the oldest can go.
const maxQueued = 8

// notify queues v. One goroutine per connection sends, so a slow page
// holds up only itself, and its notifications arrive in order.
func (n *Notifier) notify(v any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == maxQueued {
		n.queue = n.queue[1:]
	}
	n.queue = append(n.queue, v)
	if n.sending {
		return
	}
	n.sending = true
	go func() {
		for {
			n.mu.Lock()
			if len(n.queue) == 0 {
				n.sending = false
				n.mu.Unlock()
				return
			}
			v := n.queue[0]
			n.queue = n.queue[1:]
			n.mu.Unlock()
			n.Send(v)
		}
	}()
}

// Config is what a Service works with. New takes it whole, so that
// nothing changes once requests are served.
type Config struct {
	Tokens   *token.Manager
	Prompter pin.Prompter
	Sites    *sites.Store
	Log      *zap.Logger
	Version  string
	// OnActivity, when set, hears whether any dialog or card operation
	// that needed one is under way (the tray's busy icon). It is called
	// in order, from the request's goroutine, and must not block.
	OnActivity func(busy bool)
	// RefusalMemory is how long a site the user refused is refused again
	// without a dialog; 0 is a minute.
	RefusalMemory time.Duration
}

// Service runs methods.
type Service struct {
	cfg Config

	dialogs dialogs // the one door to the screen; see consent.go

	mu      sync.Mutex
	prompts map[string]bool // origins with a dialog open
	subs    map[*Notifier]bool
	told    []byte // the readers as last given to a new subscriber

	// actMu orders OnActivity calls: each says what is true when it is
	// made, so the last one always matches the state.
	actMu sync.Mutex
	busy  bool
}

// New returns a Service ready to serve.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &Service{cfg: cfg, prompts: map[string]bool{}, subs: map[*Notifier]bool{}}
	s.dialogs.queue = pin.NewQueue(cfg.Prompter)
	return s
}

// Sites is the store of the sites the user allowed.
func (s *Service) Sites() *sites.Store { return s.cfg.Sites }

type handler struct {
	// consent: the caller's origin must be allowed before this runs.
	consent bool
	// reads: it only reports what the daemon knows, without a dialog or
	// a write, so a success is logged at debug level. Pages poll these;
	// an audit line each would bury the ones that matter.
	reads bool
	run   func(s *Service, ctx context.Context, c Caller, params json.RawMessage) (any, error)
}

// methods is the one table of methods. It is filled in init because
// system.info lists it.
var methods map[string]handler

func init() {
	methods = map[string]handler{
		protocol.MethodCardsList:           {true, true, (*Service).cardsList},
		protocol.MethodCertificatesInstall: {true, false, (*Service).certificatesInstall},
		protocol.MethodCertificatesList:    {true, true, (*Service).certificatesList},
		protocol.MethodEventsSubscribe:     {true, false, (*Service).eventsSubscribe},
		protocol.MethodPINChange:           {true, false, (*Service).pinChange},
		protocol.MethodPINUnblock:          {true, false, (*Service).pinUnblock},
		protocol.MethodCSRCreate:           {true, false, (*Service).csrCreate},
		protocol.MethodKeysDelete:          {true, false, (*Service).keysDelete},
		protocol.MethodKeysGenerate:        {true, false, (*Service).keysGenerate},
		protocol.MethodKeysList:            {true, true, (*Service).keysList},
		protocol.MethodPKCS12Import:        {true, false, (*Service).pkcs12Import},
		protocol.MethodSign:                {true, false, (*Service).sign},
		protocol.MethodSMIMEDecrypt:        {true, false, (*Service).smimeDecrypt},
		protocol.MethodSMIMESign:           {true, false, (*Service).smimeSign},
		protocol.MethodSystemInfo:          {false, true, (*Service).systemInfo},
	}
}

// Methods lists the method names, sorted.
func Methods() []string {
	out := make([]string, 0, len(methods))
	for name := range methods {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Handle runs one request and returns its response, or nil for a
// notification. It never panics on bad input.
func (s *Service) Handle(ctx context.Context, c Caller, req *protocol.Request) *protocol.Response {
	start := time.Now()
	h, known := methods[req.Method]
	var tm *token.Timing
	if !h.reads { // reads reach no PIN, and pages poll them: no allocation
		tm = new(token.Timing)
		ctx = token.WithTiming(ctx, tm)
	}
	result, err := s.call(ctx, c, req, h, known)
	perr := toProtocolError(err)
	code := 0
	var detail []zap.Field
	if perr != nil {
		code = perr.Code
		// What the page is not told: the whole chain, and what the
		// module said. Error texts hold no PIN, key or signed data.
		detail = append(detail, zap.String("error", Truncate(err.Error(), 512)))
		if d := token.ModuleDetail(err); d != "" {
			detail = append(detail, zap.String("module_error", d))
		}
	}
	// The audit line names who asked for what, never params or results.
	level := zap.InfoLevel
	if h.reads && perr == nil {
		level = zap.DebugLevel
	}
	fields := []zap.Field{zap.String("origin", c.Origin), zap.String("via", c.Via), zap.String("method", Truncate(req.Method, 64)),
		zap.Int("code", code), zap.Duration("took", time.Since(start))}
	// Where the time went, for requests that reached a card: the PIN
	// dialog (the user included), the login, and the card's own work.
	if tm != nil && (tm.Card() > 0 || tm.PIN() > 0) {
		fields = append(fields, zap.Duration("pin_dialog", tm.PIN()), zap.Duration("login", tm.Login()), zap.Duration("card", tm.Card()))
	}
	s.cfg.Log.Log(level, "request", append(fields, detail...)...)
	if req.IsNotification() {
		return nil
	}
	return protocol.NewResponse(req.ID, result, perr)
}

func (s *Service) call(ctx context.Context, c Caller, req *protocol.Request, h handler, known bool) (any, error) {
	if !known {
		return nil, protocol.Errorf(protocol.CodeMethodNotFound, "unknown method %q", Truncate(req.Method, 64))
	}
	if req.IsNotification() {
		// Work that nobody will hear about is not done.
		return nil, nil
	}
	if h.consent {
		if err := s.consent(ctx, c); err != nil {
			return nil, err
		}
	}
	return h.run(s, ctx, c, req.Params)
}

// Truncate bounds a caller-supplied string before it reaches a log or an
// error message.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// gate lets one dialog per origin be open at a time; a second request that
// needs one gets busy rather than a stack of dialogs.
func (s *Service) gate(origin string) (release func(), err error) {
	s.mu.Lock()
	if s.prompts[origin] {
		s.mu.Unlock()
		return nil, protocol.Errorf(protocol.CodeBusy, "a cardbridge dialog for %s is already open", origin)
	}
	s.prompts[origin] = true
	s.mu.Unlock()
	s.activity()
	return func() {
		s.mu.Lock()
		delete(s.prompts, origin)
		s.mu.Unlock()
		s.activity()
	}, nil
}

// activity tells OnActivity whether any dialog or card operation is under
// way now, if that changed since it was last told.
func (s *Service) activity() {
	if s.cfg.OnActivity == nil {
		return
	}
	s.actMu.Lock()
	defer s.actMu.Unlock()
	s.mu.Lock()
	busy := len(s.prompts) > 0
	s.mu.Unlock()
	if busy != s.busy {
		s.busy = busy
		s.cfg.OnActivity(busy)
	}
}
