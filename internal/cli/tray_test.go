package cli

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/token"
	"github.com/cardbridge/cardbridge/internal/tray"
)

// TestTrayStateOrder: states reach the tray in the order they were set,
// and a state the tray has not read yet is replaced by the newer one, so
// that a busy tray never ends on a stale state (such as busy after idle).
func TestTrayStateOrder(t *testing.T) {
	tc := &trayCore{updates: make(chan tray.State, 1)}
	tc.activity(true)
	tc.activity(false) // the tray was not reading
	if s := <-tc.updates; s.Busy {
		t.Fatal("busy after idle: the tray was left on a stale state")
	}
	// Many writers, nobody reading: no send blocks, and the state left is
	// the last one set.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc.set(func(s *tray.State) { s.Expiring = append(s.Expiring, tray.Expiring{}) })
		}()
	}
	wg.Wait()
	tc.activity(true)
	if s := <-tc.updates; !s.Busy || len(s.Expiring) != 50 {
		t.Fatalf("latest state: busy %v, %d expiring", s.Busy, len(s.Expiring))
	}
	select {
	case s := <-tc.updates:
		t.Fatalf("a stale state was left behind: %+v", s)
	default:
	}
}

func TestPINOutcome(t *testing.T) {
	for _, tt := range []struct {
		err     error
		summary string
		body    string
	}{
		{nil, "PIN changed", "card 1234 5678 9012 was changed"},
		{&token.PINIncorrectError{}, "PIN not changed", "current PIN was wrong"},
		{&token.PINIncorrectError{FinalTry: true}, "PIN not changed", "one more wrong PIN locks the card"},
		{&token.PINIncorrectError{BadLength: true, Min: 4, Max: 8}, "PIN not changed", "4 to 8 characters"},
		{token.ErrPINLocked, "PIN locked", "PUK"},
		{pin.ErrTimeout, "PIN not changed", "nobody answered"},
		{errors.New("card gone"), "PIN not changed", "card gone"},
	} {
		summary, body, ok := pinOutcome("123456789012", tt.err)
		if !ok || summary != tt.summary || !strings.Contains(body, tt.body) {
			t.Errorf("%v: %q %q %v", tt.err, summary, body, ok)
		}
	}
	if _, _, ok := pinOutcome("1", pin.ErrCancelled); ok {
		t.Error("a cancelled dialog got a notification")
	}
}
