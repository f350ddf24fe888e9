package rpc

import (
	"errors"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/p12"
	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/smime"
	"github.com/cardbridge/cardbridge/internal/token"
)

// toProtocolError is the one place where typed errors become wire error
// codes. The reason a page reads is the typed error's text, which says what
// went wrong with the request; what a module or the system reported
// (CKR_* codes, paths, program errors) goes only to the log (see Handle).
func toProtocolError(err error) *protocol.Error {
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	var pinErr *token.PINIncorrectError
	if errors.As(err, &pinErr) {
		e := protocol.Errorf(protocol.CodePINIncorrect, "%s", pinErr.Error())
		if pinErr.BadLength {
			e.Data.Reason += "; the card was not asked, so no try was used"
		}
		e.Data.CountLow, e.Data.FinalTry = &pinErr.CountLow, &pinErr.FinalTry
		return e
	}
	if errors.Is(err, p12.ErrWrongPassword) {
		return protocol.Errorf(protocol.CodePINIncorrect, "the password of the certificate file is wrong; nothing was written to the card")
	}
	for _, m := range []struct {
		err  error
		code int
	}{
		{pin.ErrCancelled, protocol.CodeUserCancelled},
		{token.ErrCancelled, protocol.CodeUserCancelled},
		{pin.ErrTimeout, protocol.CodeTimeout},
		{token.ErrPINLocked, protocol.CodePINLocked},
		{token.ErrCardRemoved, protocol.CodeCardRemoved},
		{token.ErrCardNotPresent, protocol.CodeCardNotPresent},
		{token.ErrNotFound, protocol.CodeKeyNotFound},
		{token.ErrUnsupported, protocol.CodeUnsupported},
		{token.ErrAmbiguousCard, protocol.CodeInvalidParams},
		{token.ErrInvalidInput, protocol.CodeInvalidParams},
		{token.ErrCertificateMismatch, protocol.CodeCertificateMismatch},
		{token.ErrSlotFull, protocol.CodeSlotOccupied},
		{token.ErrNotAnswering, protocol.CodeCardNotAnswering},
		{csr.ErrInvalid, protocol.CodeInvalidParams},
		{p12.ErrInvalid, protocol.CodeInvalidParams},
		{cms.ErrInvalid, protocol.CodeInvalidParams},
		{smime.ErrInvalid, protocol.CodeInvalidParams},
	} {
		if errors.Is(err, m.err) {
			return protocol.Errorf(m.code, "%s", err.Error())
		}
	}
	if errors.Is(err, pin.ErrUnavailable) {
		return protocol.Errorf(protocol.CodeInternal, "cardbridge cannot show its PIN dialog; the cardbridge log says why")
	}
	return protocol.Errorf(protocol.CodeInternal, "internal error; the cardbridge log says more")
}
