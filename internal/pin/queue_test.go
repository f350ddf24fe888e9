package pin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A consent dialog nobody answers gives way to a PIN dialog at once, and
// shows again after it.
func TestYieldingDialogGivesWay(t *testing.T) {
	path, _, dialogs := countingPinentry(t)
	answers := filepath.Join(t.TempDir(), "answers")
	os.WriteFile(answers, []byte("hang\npin 123456\nyes\n"), 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", answers)
	pe := NewPinentry(path)
	defer settle(t, pe)
	q := NewQueue(pe)
	consent := make(chan error, 1)
	go func() { consent <- q.Confirm(context.Background(), Prompt{Description: "consent", Yield: true}) }()
	// The consent dialog shows and has taken its answer ("hang").
	eventually(t, func() bool {
		b, _ := os.ReadFile(answers)
		return string(b) == "pin 123456\nyes\n"
	}, func() string { return "the consent dialog never showed" })
	start := time.Now()
	got, err := q.GetPIN(context.Background(), Prompt{Description: "pin"})
	if err != nil || got != "123456" {
		t.Fatalf("PIN dialog behind a consent dialog: %q, %v", got, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the PIN dialog waited %v", took)
	}
	if err := <-consent; err != nil {
		t.Fatalf("the consent dialog, shown again: %v", err)
	}
	if d := strings.Join(readLines(dialogs), " "); d != "CONFIRM consent GETPIN pin CONFIRM consent" {
		t.Fatalf("dialogs: %s", d)
	}
}

// Waiting dialogs that do not yield go first; a request that ends while
// waiting leaves the queue without a dialog.
func TestQueueOrder(t *testing.T) {
	path, events, dialogs := countingPinentry(t)
	answers := filepath.Join(t.TempDir(), "answers")
	os.WriteFile(answers, []byte("pin 1\nyes\npin 2\nyes\n"), 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", answers)
	pe := NewPinentry(path)
	defer settle(t, pe)
	q := NewQueue(pe)
	// Hold the screen with a normal dialog while the others queue up.
	q.mu.Lock()
	hold := &turn{ready: make(chan struct{})}
	q.showing = hold
	q.mu.Unlock()
	done := make(chan string, 4)
	ended, cancel := context.WithCancel(context.Background())
	go func() { q.Confirm(context.Background(), Prompt{Description: "c1", Yield: true}); done <- "c1" }()
	waitQueued(t, q, 1)
	go func() { _, err := q.GetPIN(ended, Prompt{Description: "gone"}); done <- "gone:" + errName(err) }()
	waitQueued(t, q, 2)
	go func() { q.GetPIN(context.Background(), Prompt{Description: "p1"}); done <- "p1" }()
	waitQueued(t, q, 3)
	cancel()
	if got := <-done; got != "gone:cancelled" {
		t.Fatalf("ended request: %s", got)
	}
	q.release()
	for i := 0; i < 2; i++ {
		<-done
	}
	if d := strings.Join(readLines(dialogs), " "); d != "GETPIN p1 CONFIRM c1" {
		t.Fatalf("dialogs: %s (events %q)", d, readLines(events))
	}
}

func waitQueued(t *testing.T, q *Queue, n int) {
	t.Helper()
	eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.waiting) == n
	}, func() string { return "the queue did not fill" })
}

func errName(err error) string {
	if errors.Is(err, ErrCancelled) {
		return "cancelled"
	}
	if err == nil {
		return "nil"
	}
	return err.Error()
}
