//go:build windows

package pin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/zenity"
)

// Dialog is the Prompter on Windows, which has no pinentry: a window of
// our own for PINs (a masked field under the full description: origin,
// operation, card, reader, tries left), and a Windows message box, through
// zenity, for yes/no questions.
type Dialog struct {
	Timeout time.Duration // per dialog; DefaultTimeout when zero

	// one holds the single dialog slot; see the package doc.
	one chan struct{}
}

// NewDialog returns the native Windows Prompter.
func NewDialog() *Dialog { return &Dialog{one: make(chan struct{}, 1)} }

// GetPIN implements Prompter.
func (d *Dialog) GetPIN(ctx context.Context, p Prompt) (string, error) {
	var pin string
	err := d.slot(ctx, func(ctx context.Context) error {
		var err error
		pin, err = askPIN(ctx, p)
		return err
	})
	return pin, err
}

// Confirm implements Prompter. Closing the box counts as no, as the
// Cancel button it stands for.
func (d *Dialog) Confirm(ctx context.Context, p Prompt) error {
	return d.slot(ctx, func(ctx context.Context) error {
		text := p.Description
		if p.Warning != "" {
			text = p.Warning + "\n\n" + text
		}
		err := zenity.Question(text,
			zenity.Title(orDefault(p.Title, "cardbridge")),
			zenity.OKLabel(orDefault(p.OK, "OK")),
			zenity.CancelLabel(orDefault(p.Cancel, "Cancel")),
			zenity.DefaultCancel(),
			zenity.Context(ctx))
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctxErr(ctx)
		case errors.Is(err, zenity.ErrCanceled):
			return ErrDenied
		}
		return fmt.Errorf("%w: message box: %w", ErrUnavailable, err)
	})
}

// slot runs one dialog at a time for the whole daemon, with the deadline.
func (d *Dialog) slot(ctx context.Context, fn func(context.Context) error) error {
	timeout := d.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case d.one <- struct{}{}:
	case <-ctx.Done():
		return ctxErr(ctx)
	}
	defer func() { <-d.one }()
	// An ended request gets no dialog, even when the slot was free too.
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	return fn(ctx)
}

// dialogText is the body of the PIN window. Windows controls show CR LF
// line breaks; a lone LF is drawn as a box in some of them.
func dialogText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
