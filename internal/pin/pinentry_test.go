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

func TestPrestartedProgramAnswersThePrompt(t *testing.T) {
	path, events, dialogs := countingPinentry(t)
	p := NewPinentry(path)
	ctx, stop := p.Prestart(context.Background())
	defer stop()
	// It runs before anything is asked, and shows nothing.
	waitFor(t, events, []string{"start"})
	if d := readLines(dialogs); len(d) != 0 {
		t.Fatalf("a prestarted pinentry showed a dialog: %q", d)
	}
	got, err := p.GetPIN(ctx, Prompt{Description: "sign"})
	if err != nil || got != "123456" {
		t.Fatalf("GetPIN = %q, %v", got, err)
	}
	stop() // after the prompt took it: a no-op
	waitFor(t, events, []string{"exit", "start"})
	// A second prompt with the same context starts a program of its own.
	if err := p.Confirm(ctx, Prompt{Description: "again"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, []string{"exit", "exit", "start", "start"})
}

func TestUnusedPrestartEnds(t *testing.T) {
	path, events, dialogs := countingPinentry(t)
	p := NewPinentry(path)
	_, stop := p.Prestart(context.Background())
	waitFor(t, events, []string{"start"})
	stop()
	waitFor(t, events, []string{"exit", "start"})
	if d := readLines(dialogs); len(d) != 0 {
		t.Fatalf("an unused pinentry showed a dialog: %q", d)
	}
	// Its slot is free again.
	eventually(t, func() bool {
		ctx, stop := p.Prestart(context.Background())
		if e := takeEarly(ctx); e != nil {
			e.close()
			return true
		}
		stop()
		return false
	}, func() string { return "the prestart slot was not given back" })
	waitFor(t, events, []string{"exit", "exit", "start", "start"})
}

func TestOnePrestartAtATime(t *testing.T) {
	path, events, _ := countingPinentry(t)
	p := NewPinentry(path)
	ctx1, stop1 := p.Prestart(context.Background())
	defer stop1()
	ctx2, stop2 := p.Prestart(context.Background())
	defer stop2()
	if ctx2.Value(earlyKey{}) != nil {
		t.Fatal("a second program was started ahead while the first waited")
	}
	if ctx1.Value(earlyKey{}) == nil {
		t.Fatal("the first prestart started nothing")
	}
	// The second request still gets its dialog, from a program of its own.
	if got, err := p.GetPIN(ctx2, Prompt{}); err != nil || got != "123456" {
		t.Fatalf("GetPIN = %q, %v", got, err)
	}
	stop1()
	waitFor(t, events, []string{"exit", "exit", "start", "start"})
}

func TestPrestartedProgramEndsWithTheRequest(t *testing.T) {
	path, events, dialogs := countingPinentry(t)
	p := NewPinentry(path)
	parent, cancel := context.WithCancel(context.Background())
	ctx, stop := p.Prestart(parent)
	defer stop()
	waitFor(t, events, []string{"start"})
	cancel()
	if _, err := p.GetPIN(ctx, Prompt{}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("GetPIN after the request ended = %v, want ErrCancelled", err)
	}
	waitFor(t, events, []string{"exit", "start"})
	if d := readLines(dialogs); len(d) != 0 {
		t.Fatalf("dialog shown for a request that had ended: %q", d)
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
