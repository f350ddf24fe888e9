package rpc

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/cardbridge/cardbridge/internal/protocol"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/token"
)

// withPIN runs fn on the card after the user has entered the PIN in a
// dialog that says who asks for what. Callers hold the site's dialog gate
// (see gate) for the whole operation, so a site has at most one PIN
// operation in flight.
func (s *Service) withPIN(ctx context.Context, c Caller, serial, what string, fn func(*token.Session) error) error {
	login := func(ctx context.Context, info token.LoginInfo) (string, error) {
		return s.cfg.Prompter.GetPIN(ctx, pinPrompt(c.Origin, what, info))
	}
	return s.cfg.Tokens.Do(ctx, serial, login, fn)
}

// prestart starts the dialog program ahead of a prompt when the Prompter
// can; stop must always be called.
func (s *Service) prestart(ctx context.Context) (_ context.Context, stop func()) {
	if ps, ok := s.cfg.Prompter.(pin.Prestarter); ok {
		return ps.Prestart(ctx)
	}
	return ctx, func() {}
}

// pinPrompt says everything a person needs to decide: which site, what it
// will do, on which card in which reader, and whether the PIN is at risk.
func pinPrompt(origin, what string, info token.LoginInfo) pin.Prompt {
	var b strings.Builder
	fmt.Fprintf(&b, "%s wants to %s\n\n", origin, what)
	fmt.Fprintf(&b, "Card: %s", protocol.GroupSerial(oneLine(info.Serial)))
	if info.Label != "" {
		fmt.Fprintf(&b, " (%s)", oneLine(info.Label))
	}
	fmt.Fprintf(&b, "\nReader: %s\n\n", oneLine(info.Reader))
	if info.PIN.PINPad {
		b.WriteString("Press OK, then enter your PIN on the card reader's keypad.")
	} else {
		b.WriteString("Enter the card's PIN to allow this, or Cancel to refuse.")
	}
	p := pin.Prompt{Title: dialogTitle, Description: b.String(), Label: "PIN:", OK: "Allow"}
	switch {
	case info.PIN.FinalTry:
		p.Warning = "Last try: a wrong PIN now locks the card."
	case info.PIN.CountLow:
		// CKF_USER_PIN_COUNT_LOW is set by the first wrong PIN on many
		// cards, whatever number of tries remains: say only what is known.
		p.Warning = "A wrong PIN was entered since the last right one."
	}
	return p
}

// dialogTitle is the window title of every cardbridge dialog: the program
// that asks, as a window list shows it. What is asked goes in the text.
const dialogTitle = "cardbridge"

// consentPrompt asks whether a site may use the cards at all.
func consentPrompt(origin string) pin.Prompt {
	return pin.Prompt{
		Title: dialogTitle,
		Description: fmt.Sprintf("Allow %s to use your cards?\n\n"+
			"The site can then see your card readers, card numbers and public keys, "+
			"and ask to create keys and sign. You will still be asked for your PIN each time.\n\n"+
			"Allow only sites you trust.", oneLine(origin)),
		OK:     "Allow",
		Cancel: "Deny",
	}
}

// claimCard takes the site's dialog gate (see gate) and finds the card, so
// that a request which will ask the user something holds the gate from
// the start. On error nothing is held.
func (s *Service) claimCard(c Caller, card string) (token.Reader, func(), error) {
	release, err := s.gate(c.Origin)
	if err != nil {
		return token.Reader{}, nil, err
	}
	r, err := s.cfg.Tokens.CardInfo(card)
	if err != nil {
		release()
		return token.Reader{}, nil, err
	}
	return r, release, nil
}

// claimKey is claimCard for a request about one key: it also finds the
// key, without a PIN, so that a missing key is reported before any dialog.
func (s *Service) claimKey(ctx context.Context, c Caller, card, keyID string) (token.Reader, token.KeyInfo, func(), error) {
	release, err := s.gate(c.Origin)
	if err != nil {
		return token.Reader{}, token.KeyInfo{}, nil, err
	}
	r, k, err := s.findKey(ctx, card, keyID)
	if err != nil {
		release()
		return token.Reader{}, token.KeyInfo{}, nil, err
	}
	return r, k, release, nil
}

// oneLine keeps what a card or reader calls itself from adding lines to a
// dialog, where it could pose as cardbridge's own words.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
