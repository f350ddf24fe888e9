package pin

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// ErrPreempted is the cause given to a yielding dialog taken off the screen
// for a more urgent one; Queue shows it again afterwards.
var ErrPreempted = errors.New("the dialog gave way to a more urgent one")

// Queue is the one door through which dialogs reach the screen. It shows
// one dialog at a time, neutralises and bounds every text in it (see
// Neutralize), and orders the waiting ones: dialogs of a Prompt with Yield
// set (a new site asking for consent) wait behind every other dialog, and
// one that is showing gives way as soon as another kind waits, to be shown
// again after it. A site the user already allowed is so never kept from
// its PIN dialog by other sites' consent prompts, however many there are.
//
// Each dialog's deadline is the wrapped Prompter's, and runs from when the
// dialog shows; time spent in the queue is bounded only by the request's
// own context.
type Queue struct {
	p Prompter

	mu      sync.Mutex
	showing *turn
	waiting []*turn
}

type turn struct {
	yield  bool
	ready  chan struct{}           // closed when the turn is given the screen
	cancel context.CancelCauseFunc // ends the turn's dialog
}

// NewQueue puts a Queue in front of p.
func NewQueue(p Prompter) *Queue { return &Queue{p: p} }

// GetPIN implements Prompter.
func (q *Queue) GetPIN(ctx context.Context, pr Prompt) (string, error) {
	var pin string
	err := q.do(ctx, pr.Yield, func(ctx context.Context) (err error) {
		pin, err = q.p.GetPIN(ctx, Neutralize(pr))
		return err
	})
	return pin, err
}

// Confirm implements Prompter.
func (q *Queue) Confirm(ctx context.Context, pr Prompt) error {
	return q.do(ctx, pr.Yield, func(ctx context.Context) error {
		return q.p.Confirm(ctx, Neutralize(pr))
	})
}

// do runs show in its turn, again after each time it gave way.
func (q *Queue) do(ctx context.Context, yield bool, show func(context.Context) error) error {
	for {
		tctx, cancel := context.WithCancelCause(ctx)
		t := &turn{yield: yield, ready: make(chan struct{}), cancel: cancel}
		if err := q.wait(ctx, t); err != nil {
			cancel(nil)
			return err
		}
		err := show(tctx)
		preempted := errors.Is(context.Cause(tctx), ErrPreempted)
		cancel(nil)
		q.release()
		if !preempted || ctx.Err() != nil {
			return err
		}
	}
}

// wait queues t and returns once it has the screen, or with the
// Prompter's error for an ended request.
func (q *Queue) wait(ctx context.Context, t *turn) error {
	q.mu.Lock()
	q.waiting = append(q.waiting, t)
	if s := q.showing; !t.yield && s != nil && s.yield {
		s.cancel(ErrPreempted)
	}
	q.next()
	q.mu.Unlock()
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	select {
	case <-t.ready: // given the screen meanwhile: pass it on
		q.showing = nil
		q.next()
	default:
		q.waiting = slices.DeleteFunc(q.waiting, func(w *turn) bool { return w == t })
	}
	q.mu.Unlock()
	return ctxErr(ctx)
}

func (q *Queue) release() {
	q.mu.Lock()
	q.showing = nil
	q.next()
	q.mu.Unlock()
}

// next gives a free screen to the first waiting turn that does not yield,
// or else to the first one. The caller holds q.mu.
func (q *Queue) next() {
	if q.showing != nil || len(q.waiting) == 0 {
		return
	}
	i := max(0, slices.IndexFunc(q.waiting, func(t *turn) bool { return !t.yield }))
	t := q.waiting[i]
	q.waiting = slices.Delete(q.waiting, i, i+1)
	q.showing = t
	close(t.ready)
}
