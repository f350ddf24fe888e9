package pin

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text a dialog shows comes partly from places cardbridge does not control:
// a page's origin, a certificate request's subject, a card's or a reader's
// name, the headers of a mail a page hands in. Drawn raw, such text can
// forge the dialog: a line separator or newline in a card label draws a
// fake "Reader:" line, bidi controls reorder what the user reads, a NUL
// cuts off everything after it in the program that draws the dialog.
// Everything shown is therefore neutralised and bounded here, in one place
// that every dialog passes (Queue), whatever program draws it.

// Bounds of a dialog's fields, in runes.
const (
	maxTitle       = 100
	maxDescription = 2000
	maxDescLines   = 24
	maxLabel       = 40
	maxWarning     = 200
	maxButton      = 24
	// MaxValue bounds one value quoted in a dialog (see Clean).
	MaxValue = 200
)

// replacement marks where something was taken out, so that tampering
// shows rather than hides.
const replacement = '\uFFFD'

// neutral reports runes that are never drawn as they are: C0 and C1
// controls with NUL and DEL, format characters (Cf: the bidi embeddings,
// overrides and isolates, zero-width joiners, soft hyphen, BOM), line and
// paragraph separators (Zl, Zp), and the bidi marks outside Cf.
func neutral(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) ||
		unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}

// Clean makes s safe to quote inside a dialog's text: one line, nothing
// that reorders, hides or cuts text, at most max runes (MaxValue when max
// is 0). Builders of dialog text call it on every value they did not write
// themselves, so that a value cannot add lines that pose as cardbridge's
// own words.
func Clean(s string, max int) string {
	if max <= 0 {
		max = MaxValue
	}
	return bound(clean(s, false), max)
}

// clean replaces neutral runes with the replacement mark; a tab becomes a
// space. keepNewlines keeps '\n' (the line breaks of a description that
// cardbridge itself wrote).
func clean(s string, keepNewlines bool) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return neutral(r) }) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // invalid UTF-8 comes out as utf8.RuneError
		switch {
		case r == '\n' && keepNewlines:
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case r == '\r' && keepNewlines:
			// dropped: "\r\n" is a newline already
		case neutral(r):
			b.WriteRune(replacement)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bound cuts s to at most max runes, marking the cut with "…".
func bound(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// boundLines keeps at most max lines of s.
func boundLines(s string, max int) string {
	if strings.Count(s, "\n") < max {
		return s
	}
	lines := strings.SplitN(s, "\n", max+1)
	return strings.Join(lines[:max-1], "\n") + "\n…"
}

// Neutralize returns p with every field neutralised and bounded: the
// description keeps its line breaks, every other field is one line.
func Neutralize(p Prompt) Prompt {
	one := func(s string, max int) string { return bound(clean(s, false), max) }
	p.Title = one(p.Title, maxTitle)
	p.Description = boundLines(bound(clean(p.Description, true), maxDescription), maxDescLines)
	p.Label = one(p.Label, maxLabel)
	p.Warning = one(p.Warning, maxWarning)
	p.OK = one(p.OK, maxButton)
	p.Cancel = one(p.Cancel, maxButton)
	p.Repeat = one(p.Repeat, maxLabel)
	return p
}
