package rpc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/sites"
	"go.uber.org/zap"
)

// Consent prompts come from sites the user has not allowed, so any page
// can cause them, and a page controls as many origins as it likes
// (a.evil.example, b.evil.example, …). They are therefore bounded:
const (
	// maxConsentWaiting is how many consent prompts may be queued or
	// showing at once, for all sites together; more are refused at once.
	maxConsentWaiting = 8
	// maxConsentPerDomain is the same for one registrable domain (see
	// sites.Registrable), so that one domain cannot fill the queue.
	maxConsentPerDomain = 2
	// refusalMemory is how long a "no" to an origin stands by default
	// (Config.RefusalMemory): the page gets 1007 without a dialog until it
	// has passed. Long enough that a page cannot bring its dialog back at
	// once; short enough that a user who refused by mistake can ask the
	// page to try again soon.
	refusalMemory = time.Minute
	// timeoutMemory is the same for a consent dialog nobody answered;
	// shorter, as the user may just have been away.
	timeoutMemory = 30 * time.Second
	// domainRefusals refusals (or unanswered dialogs) still standing for
	// origins of one registrable domain refuse its other origins too, so
	// that a page cannot go on asking from fresh subdomains.
	domainRefusals = 3
)

// dialogs is the Service's door to the screen: the queue every dialog
// goes through, and what it remembers about consent.
type dialogs struct {
	queue *pin.Queue // every dialog goes through it; see pin.Queue

	mu      sync.Mutex
	waiting map[string]int         // consent prompts queued or showing, by registrable domain
	total   int                    // … for all domains
	refused map[string]time.Time   // origin → until when a refusal stands
	byDom   map[string][]time.Time // registrable domain → when its refusals end
}

// prompter is the Service's Prompter behind the dialog queue. Every dialog
// goes through it, so that all are neutralised and ordered (see pin.Queue).
func (s *Service) prompter() pin.Prompter { return s.dialogs.queue }

// consent makes sure the caller's origin is allowed, asking the user the
// first time. A refusal stands for refusalMemory, so that a page cannot
// bring its dialog back at once; after that the user may change their
// mind on the next visit.
func (s *Service) consent(ctx context.Context, c Caller) error {
	if c.Origin == "" {
		return protocol.Errorf(protocol.CodeOriginDenied, "the request carries no origin")
	}
	switch s.cfg.Sites.Check(c.Origin) {
	case sites.Allowed:
		return nil
	case sites.Refused:
		return protocol.Errorf(protocol.CodeOriginDenied, "your administrator's policy does not allow %s to use cardbridge", c.Origin)
	}
	// Remembered refusals and the caps are checked first: a page asking
	// again and again costs a map lookup, not even a busy tray icon.
	domain := sites.Registrable(c.Origin)
	if err := s.dialogs.admit(c.Origin, domain, time.Now()); err != nil {
		return err
	}
	defer s.dialogs.leave(domain)
	release, err := s.gate(c.Origin)
	if err != nil {
		return err
	}
	defer release()
	p := consentPrompt(c.Origin)
	p.Yield = true // a new site waits behind every other dialog
	err = s.prompter().Confirm(ctx, p)
	switch {
	case err == nil:
		if err := s.cfg.Sites.Allow(c.Origin); err != nil {
			s.cfg.Log.Warn("could not save an allowed site", zap.String("origin", c.Origin), zap.Error(err))
		}
		s.cfg.Log.Info("site allowed by the user", zap.String("origin", c.Origin))
		return nil
	case isRefusal(err) && ctx.Err() == nil:
		s.dialogs.remember(c.Origin, domain, time.Now(), s.refusalMemory())
		return protocol.Errorf(protocol.CodeOriginDenied, "the user did not allow %s", c.Origin)
	case errors.Is(err, pin.ErrTimeout):
		s.dialogs.remember(c.Origin, domain, time.Now(), timeoutMemory)
	}
	return err
}

func (s *Service) refusalMemory() time.Duration {
	if s.cfg.RefusalMemory > 0 {
		return s.cfg.RefusalMemory
	}
	return refusalMemory
}

// admit counts a consent prompt in, or refuses it at once: a recent
// refusal stands, and the caps hold.
func (d *dialogs) admit(origin, domain string, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until, ok := d.refused[origin]; ok {
		if now.Before(until) {
			return protocol.Errorf(protocol.CodeOriginDenied, "%s was refused or not answered a short while ago; it is not asked again before %s", origin, until.Format("15:04:05"))
		}
		delete(d.refused, origin)
	}
	if d.prune(domain, now) >= domainRefusals {
		return protocol.Errorf(protocol.CodeOriginDenied, "sites of %s were refused several times a short while ago; they are not asked again for now", domain)
	}
	if d.total >= maxConsentWaiting {
		return protocol.Errorf(protocol.CodeBusy, "too many sites are waiting for the user's consent; try again later")
	}
	if d.waiting[domain] >= maxConsentPerDomain {
		return protocol.Errorf(protocol.CodeBusy, "too many pages of %s are waiting for the user's consent; try again later", domain)
	}
	if d.waiting == nil {
		d.waiting = map[string]int{}
	}
	d.waiting[domain]++
	d.total++
	return nil
}

func (d *dialogs) leave(domain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total--
	if d.waiting[domain]--; d.waiting[domain] <= 0 {
		delete(d.waiting, domain)
	}
}

// remember makes a refusal stand for memory, for the origin and, counted
// with others, for its whole domain.
func (d *dialogs) remember(origin, domain string, now time.Time, memory time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refused == nil {
		d.refused, d.byDom = map[string]time.Time{}, map[string][]time.Time{}
	}
	// Entries are few (origins a user refused within minutes); expired
	// ones are dropped here so that the map cannot grow without end.
	for o, until := range d.refused {
		if !now.Before(until) {
			delete(d.refused, o)
		}
	}
	for dom := range d.byDom {
		d.prune(dom, now)
	}
	d.refused[origin] = now.Add(memory)
	d.byDom[domain] = append(d.byDom[domain], now.Add(memory))
}

// prune drops the domain's refusals that no longer stand and returns how
// many still do. The caller holds d.mu.
func (d *dialogs) prune(domain string, now time.Time) int {
	live := slices.DeleteFunc(d.byDom[domain], func(end time.Time) bool { return !now.Before(end) })
	if len(live) == 0 {
		delete(d.byDom, domain)
	} else {
		d.byDom[domain] = live
	}
	return len(live)
}

// isRefusal reports a "no" from a confirmation dialog, by button or by
// closing it.
func isRefusal(err error) bool {
	return errors.Is(err, pin.ErrDenied) || errors.Is(err, pin.ErrCancelled)
}
