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

// TestTrayActivityOrder: the service reports busy and idle from
// goroutines of their own, so they can arrive reversed; the tray must
// still end idle, and always on the latest state.
func TestTrayActivityOrder(t *testing.T) {
	tc := &trayCore{updates: make(chan tray.State, 1)}
	tc.activity(false) // the idle overtook its busy
	tc.activity(true)
	if s := <-tc.updates; s.Busy {
		t.Fatal("idle before busy left the tray busy")
	}
	// Many dialogs at once, with nobody reading: no send blocks, and the
	// one state left is the last.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(2)
		go func() { defer wg.Done(); tc.activity(true) }()
		go func() { defer wg.Done(); tc.activity(false) }()
	}
	wg.Wait()
	if s := <-tc.updates; s.Busy {
		t.Fatal("the tray ended busy with nothing open")
	}
	tc.activity(true)
	tc.set(func(s *tray.State) { s.Expiring = []tray.Expiring{{Subject: "x"}} })
	if s := <-tc.updates; !s.Busy || len(s.Expiring) != 1 {
		t.Fatalf("latest state = %+v", s)
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
