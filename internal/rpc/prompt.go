package rpc

import (
	"context"
	"fmt"
	"strings"

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
		return s.prompter().GetPIN(ctx, pinPrompt(c.Origin, what, info))
	}
	return s.cfg.Tokens.Do(ctx, serial, login, fn)
}

// managementKey lets writes to a PIV card ask the user for its
// management key, should the card refuse the factory default. A page
// never supplies it.
func (s *Service) managementKey(ctx context.Context, c Caller, r token.Reader) context.Context {
	return token.WithManagementKey(ctx, func(ctx context.Context) (string, error) {
		desc := fmt.Sprintf("%s wants to write to your card, which does not take the factory management key.\n\n"+
			"Card: %s\nReader: %s\n\nEnter the card's management key (48 hex digits), or Cancel to refuse.",
			c.Origin, protocol.GroupSerial(pin.Clean(r.Card.Serial, 64)), pin.Clean(r.Name, 100))
		return s.prompter().GetPIN(ctx, pin.Prompt{Title: "cardbridge", Description: desc, Label: "Management key:", OK: "Allow"})
	})
}

// pinPrompt says everything a person needs to decide: which site, what it
// will do, on which card in which reader, and whether the PIN is at risk.
func pinPrompt(origin, what string, info token.LoginInfo) pin.Prompt {
	var b strings.Builder
	fmt.Fprintf(&b, "%s wants to %s\n\n", origin, what)
	fmt.Fprintf(&b, "Card: %s", protocol.GroupSerial(pin.Clean(info.Serial, 64)))
	if info.Label != "" {
		fmt.Fprintf(&b, " (%s)", pin.Clean(info.Label, 64))
	}
	fmt.Fprintf(&b, "\nReader: %s\n\n", pin.Clean(info.Reader, 100))
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
			"Allow only sites you trust.", pin.Clean(origin, 0)),
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
