package token

import (
	"fmt"
	"sync"
	"time"
)

// A module call can hang for good: OpenSC 0.23 may never return from
// C_Sign when the card is pulled. Such a call must cost its card only,
// never the request that made it nor other cards, so every stretch of
// card work runs through guard, which gives up on it after the Manager's
// opTimeout.
//
// The work of a guarded function writes only to its own locals, which
// guard hands back once it has returned; a caller's variables are never
// written by work that was given up on. The connection is then marked
// stuck: later guarded work on it fails at once, and its session, login
// and card lock are released only when the stuck call returns (see
// Manager.session), so no other request can use a login that is still in
// force, nor talk to the card while the module is inside a call.

// stuck is the state of a connection whose call was given up on.
type stuck struct {
	mu   sync.Mutex
	done chan struct{} // closed when the call returns; nil while none is stuck
}

func (st *stuck) get() chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.done
}

func (st *stuck) set(done chan struct{}) {
	st.mu.Lock()
	st.done = done
	st.mu.Unlock()
}

// guard runs f, a stretch of card work on c, and gives up on it after the
// Manager's opTimeout with ErrNotAnswering.
func guard[T any](c *conn, f func() (T, error)) (T, error) {
	var zero T
	if c.stuck.get() != nil {
		return zero, fmt.Errorf("card %s: %w", c.slot.serial(), ErrNotAnswering)
	}
	var v T
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err = f()
	}()
	t := time.NewTimer(c.m.opTimeout)
	defer t.Stop()
	select {
	case <-done:
		return v, err
	case <-t.C:
		c.stuck.set(done)
		return zero, fmt.Errorf("card %s: %w", c.slot.serial(), ErrNotAnswering)
	}
}

// guard0 is guard for work with no value.
func guard0(c *conn, f func() error) error {
	_, err := guard(c, func() (struct{}, error) { return struct{}{}, f() })
	return err
}
