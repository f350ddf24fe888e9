package pin

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDialogText(t *testing.T) {
	if got := dialogText("a\nb\r\nc"); got != "a\r\nb\r\nc" {
		t.Fatalf("dialogText = %q", got)
	}
}

// TestDialogEndedRequestShowsNothing: a request that ended before its turn
// gets no window, and the caller learns it was cancelled.
func TestDialogEndedRequestShowsNothing(t *testing.T) {
	d := NewDialog()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.GetPIN(ctx, Prompt{Description: "sign"}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("GetPIN = %v, want ErrCancelled", err)
	}
	if err := d.Confirm(ctx, Prompt{Description: "allow?"}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Confirm = %v, want ErrCancelled", err)
	}
}

// TestDialogDeadline shows the PIN window and the consent box, answers
// neither, and expects both to close themselves at the deadline. (On a
// desktop they flash up for a moment.)
func TestDialogDeadline(t *testing.T) {
	d := NewDialog()
	d.Timeout = 500 * time.Millisecond
	start := time.Now()
	if _, err := d.GetPIN(context.Background(), Prompt{Description: "a test: nobody answers", Repeat: "Repeat:"}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("GetPIN = %v, want ErrTimeout", err)
	}
	if err := d.Confirm(context.Background(), Prompt{Description: "a test: nobody answers"}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Confirm = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("two 0.5 s dialogs took %v", took)
	}
}
