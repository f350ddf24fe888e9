// Package pin asks the user for PINs and for consent, in a native dialog
// that the web page cannot see or script. On Linux (and wherever GnuPG is
// installed) that dialog is a pinentry program, spoken to over the Assuan
// protocol.
//
// Prompts are shown one at a time for the whole daemon (see Queue), so that
// two sites can never stack dialogs on top of each other; every text in
// them is neutralised first (see Neutralize); and each prompt has a
// deadline, from when it shows, after which it closes itself.
package pin

import (
	"context"
	"errors"
)

// Errors a Prompter returns.
var (
	ErrCancelled   = errors.New("the user cancelled the dialog")
	ErrDenied      = errors.New("the user refused")
	ErrTimeout     = errors.New("no answer in time")
	ErrUnavailable = errors.New("no pinentry program is available")
)

// Prompt is what a dialog shows.
type Prompt struct {
	Title       string // window title
	Description string // what is being asked and why, several lines
	Label       string // the field label, e.g. "PIN:"
	Warning     string // shown highlighted, e.g. "Last try before the PIN locks"
	OK, Cancel  string // button labels; empty keeps the defaults
	Repeat      string // for a new PIN: label of the second field
	// Yield marks a dialog that waits behind all others and gives way to
	// them while it shows (see Queue): a new site asking for consent.
	Yield bool
}

// Prompter shows native dialogs.
type Prompter interface {
	// GetPIN asks for a secret. It returns ErrCancelled, ErrTimeout or
	// ErrUnavailable when it gets none.
	GetPIN(ctx context.Context, p Prompt) (string, error)
	// Confirm asks a yes/no question. It returns nil for yes, ErrDenied
	// for no, and ErrCancelled, ErrTimeout or ErrUnavailable otherwise.
	Confirm(ctx context.Context, p Prompt) error
}
