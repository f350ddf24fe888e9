package rpc

import (
	"context"
	"fmt"
	"strings"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/token"
)

// withPIN runs fn on the card after the user has entered the PIN in a
// dialog that says who asks for what. Callers hold the site's dialog gate
// (see gate) for the whole operation, so a site has at most one PIN
// operation in flight.
func (s *Service) withPIN(ctx context.Context, c Caller, serial, what string, fn func(*token.Session) error) error {
	login := func(ctx context.Context, info token.LoginInfo) (string, error) {
		return s.Prompter.GetPIN(ctx, pinPrompt(c.Origin, what, info))
	}
	return s.Tokens.Do(ctx, serial, login, fn)
}

// pinPrompt says everything a person needs to decide: which site, what it
// will do, on which card in which reader, and whether the PIN is at risk.
func pinPrompt(origin, what string, info token.LoginInfo) pin.Prompt {
	var b strings.Builder
	fmt.Fprintf(&b, "%s wants to %s\n\n", origin, what)
	fmt.Fprintf(&b, "Card: %s", groupSerial(info.Serial))
	if info.Label != "" {
		fmt.Fprintf(&b, " (%s)", info.Label)
	}
	fmt.Fprintf(&b, "\nReader: %s\n\n", info.Reader)
	if info.PIN.PINPad {
		b.WriteString("Press OK, then enter your PIN on the card reader's keypad.")
	} else {
		b.WriteString("Enter the card's PIN to allow this, or Cancel to refuse.")
	}
	p := pin.Prompt{Title: "cardbridge: PIN for card " + groupSerial(info.Serial), Description: b.String(), Label: "PIN:", OK: "Allow"}
	switch {
	case info.PIN.FinalTry:
		p.Warning = "Last try: a wrong PIN now locks the card."
	case info.PIN.CountLow:
		p.Warning = "A wrong PIN was entered before; few tries are left."
	}
	return p
}

// groupSerial writes a card number in groups of four, as printed on cards.
func groupSerial(s string) string {
	if len(s) <= 8 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
