package rpc

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
)

func (s *Service) pinChange(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CardParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	return struct{}{}, s.ChangePIN(ctx, c, p.Card)
}

func (s *Service) pinUnblock(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CardParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	return struct{}{}, s.UnblockPIN(ctx, c, p.Card)
}

func retryWarning(st token.PINState) string {
	switch {
	case st.FinalTry:
		return "Last try: a wrong PIN now locks the card."
	case st.CountLow:
		return "A wrong PIN was entered since the last right one."
	}
	return ""
}

// ChangePIN asks for the current PIN and the new one (twice) in dialogs
// and changes it on the card. The tray calls it too.
func (s *Service) ChangePIN(ctx context.Context, c Caller, serial string) error {
	r, release, err := s.claimCard(c, serial)
	if err != nil {
		return err
	}
	defer release()
	card := describeCard(r)
	st := r.Card.PIN
	oldPIN, err := s.prompter().GetPIN(ctx, pin.Prompt{
		Title:       dialogTitle,
		Description: fmt.Sprintf("%s wants to change the PIN of %s.\n\nEnter the current PIN.", c.Origin, card),
		Label:       "Current PIN:", Warning: retryWarning(st),
	})
	if err != nil {
		return err
	}
	// Try the current PIN on the card before asking for a new one, so that
	// a typo is reported now rather than after the new PIN was typed twice.
	if err := s.cfg.Tokens.Do(ctx, r.Card.Serial, func(context.Context, token.LoginInfo) (string, error) { return oldPIN, nil },
		func(*token.Session) error { return nil }); err != nil {
		return err
	}
	newPIN, err := s.prompter().GetPIN(ctx, pin.Prompt{
		Title:       dialogTitle,
		Description: fmt.Sprintf("Choose the new PIN of %s: %d to %d characters.", card, st.MinLength, st.MaxLength),
		Label:       "New PIN:", Repeat: "Repeat:",
	})
	if err != nil {
		return err
	}
	return s.cfg.Tokens.ChangePIN(ctx, r.Card.Serial, oldPIN, newPIN)
}

// UnblockPIN asks for the PUK (the card's security officer PIN) and a new
// PIN, and sets the PIN with them.
func (s *Service) UnblockPIN(ctx context.Context, c Caller, serial string) error {
	r, release, err := s.claimCard(c, serial)
	if err != nil {
		return err
	}
	defer release()
	card := describeCard(r)
	state := "The PIN is not locked; unblocking sets a new one anyway."
	if r.Card.PIN.Locked {
		state = "The PIN is locked."
	}
	puk, err := s.prompter().GetPIN(ctx, pin.Prompt{
		Title:       dialogTitle,
		Description: fmt.Sprintf("%s wants to unblock the PIN of %s.\n%s\n\nEnter the PUK (the card's security officer PIN). Wrong PUKs lock the card for good.", c.Origin, card, state),
		Label:       "PUK:",
	})
	if err != nil {
		return err
	}
	newPIN, err := s.prompter().GetPIN(ctx, pin.Prompt{
		Title:       dialogTitle,
		Description: fmt.Sprintf("Choose the new PIN of %s: %d to %d characters.", card, r.Card.PIN.MinLength, r.Card.PIN.MaxLength),
		Label:       "New PIN:", Repeat: "Repeat:",
	})
	if err != nil {
		return err
	}
	return s.cfg.Tokens.UnblockPIN(ctx, r.Card.Serial, puk, newPIN)
}

// describeCard names a card and its reader for a dialog. Both names come
// from the card and its driver, so they are quoted one-line values.
func describeCard(r token.Reader) string {
	return fmt.Sprintf("card %s (%s) in %s", protocol.GroupSerial(pin.Clean(r.Card.Serial, 64)), pin.Clean(r.Card.Label, 64), pin.Clean(r.Name, 100))
}
