package rpc

import (
	"context"
	"errors"

	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/sites"
	"go.uber.org/zap"
)

// consent makes sure the caller's origin is allowed, asking the user the
// first time. A refusal is not remembered, so the user can change their
// mind on the next visit.
func (s *Service) consent(ctx context.Context, c Caller) error {
	if c.Origin == "" {
		return protocol.Errorf(protocol.CodeOriginDenied, "the request carries no origin")
	}
	switch s.cfg.Sites.Check(c.Origin) {
	case sites.Allowed:
		return nil
	case sites.Refused:
		return protocol.Errorf(protocol.CodeOriginDenied, "your administrator's policy does not allow %s to use cardbridge", c.Origin)
	}
	release, err := s.gate(c.Origin)
	if err != nil {
		return err
	}
	defer release()
	err = s.cfg.Prompter.Confirm(ctx, consentPrompt(c.Origin))
	switch {
	case err == nil:
		if err := s.cfg.Sites.Allow(c.Origin); err != nil {
			s.cfg.Log.Warn("could not save an allowed site", zap.String("origin", c.Origin), zap.Error(err))
		}
		s.cfg.Log.Info("site allowed by the user", zap.String("origin", c.Origin))
		return nil
	case isRefusal(err):
		return protocol.Errorf(protocol.CodeOriginDenied, "the user did not allow %s", c.Origin)
	}
	return err
}

// isRefusal reports a "no" from a confirmation dialog, by button or by
// closing it.
func isRefusal(err error) bool {
	return errors.Is(err, pin.ErrDenied) || errors.Is(err, pin.ErrCancelled)
}
