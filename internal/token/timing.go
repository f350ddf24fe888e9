package token

import (
	"context"
	"sync/atomic"
	"time"
)

// Timing says where the time of a request's card work went: waiting for
// the PIN (the dialog, the user's typing included), C_Login, and the
// operations on the card after it. The audit log and the benchmark read
// it, so that a slow request shows whether the person, the login or the
// card took the time. A caller puts one in the context with WithTiming,
// and Manager.Do adds to it; PIN and Login stay zero for work that needs
// no PIN, and all three for work that never reaches a card.
type Timing struct {
	d [3]atomic.Int64 // by phase
}

type phase int

const (
	phasePIN phase = iota
	phaseLogin
	phaseCard
)

// PIN is the time spent asking for the PIN.
func (t *Timing) PIN() time.Duration { return time.Duration(t.d[phasePIN].Load()) }

// Login is the time C_Login took.
func (t *Timing) Login() time.Duration { return time.Duration(t.d[phaseLogin].Load()) }

// Card is the time of the operations after login, up to (not including)
// the logout.
func (t *Timing) Card() time.Duration { return time.Duration(t.d[phaseCard].Load()) }

type timingKey struct{}

// WithTiming returns a context in which Manager.Do records into t.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

// timingOf returns the Timing in ctx, or nil.
func timingOf(ctx context.Context) *Timing {
	t, _ := ctx.Value(timingKey{}).(*Timing)
	return t
}

// since adds the time since t0 to phase p and returns now. t may be nil.
func (t *Timing) since(p phase, t0 time.Time) time.Time {
	now := time.Now()
	if t != nil {
		t.d[p].Add(int64(now.Sub(t0)))
	}
	return now
}
