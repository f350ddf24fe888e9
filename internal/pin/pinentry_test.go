package pin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// countingPinentry wraps the scripted pinentry in a program that notes in
// a file each time it starts and exits.
func countingPinentry(t *testing.T) (path, events, dialogs string) {
	t.Helper()
	dir := t.TempDir()
	script, err := filepath.Abs("../../testdata/pinentry-script")
	if err != nil {
		t.Fatal(err)
	}
	events, dialogs = filepath.Join(dir, "events"), filepath.Join(dir, "dialogs")
	path = filepath.Join(dir, "pinentry")
	body := "#!/bin/sh\necho start >>" + events + "\n" + script + "\necho exit >>" + events + "\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CB_TEST_PINENTRY_LOG", dialogs)
	t.Setenv("CB_TEST_PIN", "123456")
	return path, events, dialogs
}

func readLines(name string) []string {
	b, _ := os.ReadFile(name)
	return strings.Fields(string(b))
}

// eventually polls until cond holds, for work that ends in the
// background; it is not a timing assertion.
func eventually(t *testing.T, cond func() bool, fail func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(fail())
		}
	}
}

// waitFor waits until the file holds the lines of want (sorted).
func waitFor(t *testing.T, name string, want []string) {
	t.Helper()
	var got []string
	eventually(t, func() bool {
		got = readLines(name)
		slices.Sort(got)
		return slices.Equal(got, want)
	}, func() string { return fmt.Sprintf("%s holds %q, want %q", filepath.Base(name), got, want) })
}

// A request that has ended by the time its turn comes starts nothing.
func TestEndedRequestStartsNoProgram(t *testing.T) {
	path, events, dialogs := countingPinentry(t)
	p := NewPinentry(path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.GetPIN(ctx, Prompt{}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("GetPIN after the request ended = %v, want ErrCancelled", err)
	}
	if e, d := readLines(events), readLines(dialogs); len(e)+len(d) != 0 {
		t.Fatalf("a program ran for a request that had ended: %q %q", e, d)
	}
}

// A dialog's deadline runs from when it shows, not from when its request
// began to wait for the dialog slot.
func TestDeadlineStartsWhenTheDialogShows(t *testing.T) {
	path, events, _ := countingPinentry(t)
	queue := filepath.Join(t.TempDir(), "answers")
	os.WriteFile(queue, []byte("hang\npin 123456\n"), 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	p := NewPinentry(path)
	p.Timeout = time.Second
	first := make(chan error, 1)
	go func() {
		_, err := p.GetPIN(context.Background(), Prompt{Description: "first"})
		first <- err
	}()
	waitFor(t, events, []string{"start"})
	start := time.Now()
	got, err := p.GetPIN(context.Background(), Prompt{Description: "second"})
	if err != nil || got != "123456" {
		t.Fatalf("second dialog, after waiting %v for the first: %q, %v", time.Since(start), got, err)
	}
	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Fatalf("first dialog = %v, want ErrTimeout", err)
	}
	settle(t, p)
}

// settle waits until p's last program has exited and its slot is free,
// so that nothing of one test runs on into the next.
func settle(t *testing.T, p *Pinentry) {
	t.Helper()
	select {
	case p.one <- struct{}{}:
		<-p.one
	case <-time.After(10 * time.Second):
		t.Fatal("the dialog slot was never given back")
	}
}

// A pinentry that answers but then never exits must not hold the dialog
// slot for long.
func TestStuckPinentryIsKilledAfterItsAnswer(t *testing.T) {
	old := closeGrace
	closeGrace = 50 * time.Millisecond
	defer func() { closeGrace = old }()
	path, err := filepath.Abs("../../testdata/pinentry-script")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CB_TEST_PINENTRY_AFTER_BYE", "hang")
	p := NewPinentry(path)
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := p.GetPIN(ctx, Prompt{})
		cancel()
		if err != nil || got != "123456" {
			t.Fatalf("dialog %d: GetPIN = %q, %v", i, got, err)
		}
	}
	// The second dialog's program is killed too, and gives the slot back.
	select {
	case p.one <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the dialog slot was never given back")
	}
}
