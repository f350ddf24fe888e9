package token

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Typed errors. Callers test for them with errors.Is; the CKR_* code that
// caused one stays in the chain for the logs.
var (
	ErrPINLocked      = errors.New("pin is locked")
	ErrCardRemoved    = errors.New("card was removed")
	ErrCardNotPresent = errors.New("no such card is present")
	ErrAmbiguousCard  = errors.New("several cards are present; name one by its serial")
	ErrNotFound       = errors.New("key not found")
	ErrUnsupported    = errors.New("not supported by this card")
	ErrCancelled      = errors.New("cancelled")
	ErrInvalidInput   = errors.New("invalid input")
	// ErrNotAnswering: the card (or its module) has not finished an
	// operation in OpTimeout; its request was given up.
	ErrNotAnswering = errors.New("the card is not answering")
	// ErrCertificateMismatch: no key on the card fits the certificate.
	ErrCertificateMismatch = errors.New("no key on the card matches the certificate")
)

// PINIncorrectError reports a refused PIN together with what the token says
// about the tries that are left.
type PINIncorrectError struct {
	CountLow bool // CKF_USER_PIN_COUNT_LOW: at least one wrong try was made
	FinalTry bool // CKF_USER_PIN_FINAL_TRY: the next wrong PIN locks the card
	// BadLength is set when the PIN was refused before the card saw it
	// because it is outside the token's length limits; no try was used.
	BadLength bool
	Min, Max  int
}

func (e *PINIncorrectError) Error() string {
	switch {
	case e.BadLength:
		return fmt.Sprintf("pin must be %d to %d characters long", e.Min, e.Max)
	case e.FinalTry:
		return "pin incorrect; one try left"
	case e.CountLow:
		return "pin incorrect; few tries left"
	}
	return "pin incorrect"
}

// CKRPINLocked lets the tests' fault seam (Options.LoginFault) name the
// code without importing pkcs11.
const CKRPINLocked = pkcs11.CKR_PIN_LOCKED

// moduleError is a CKR_* code as a typed error. Its message is the typed
// error's alone: what a module reports goes to the log (see ModuleDetail),
// not to the page.
type moduleError struct {
	kind error
	rv   pkcs11.Error
}

func (e *moduleError) Error() string   { return e.kind.Error() }
func (e *moduleError) Unwrap() []error { return []error{e.kind, e.rv} }

// ModuleDetail returns the CKR_* code a module gave somewhere in err's
// chain, for the log, or "".
func ModuleDetail(err error) string {
	var rv pkcs11.Error
	if errors.As(err, &rv) {
		return rv.Error()
	}
	return ""
}

// mapError is the one place that turns CKR_* codes into typed errors. Errors
// that are not PKCS#11 errors pass through unchanged.
func mapError(err error) error {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return err
	}
	var kind error
	switch uint(rv) {
	case pkcs11.CKR_PIN_INCORRECT:
		return &moduleError{&PINIncorrectError{}, rv}
	case pkcs11.CKR_PIN_LEN_RANGE:
		return &moduleError{&PINIncorrectError{BadLength: true}, rv}
	case pkcs11.CKR_PIN_LOCKED:
		kind = ErrPINLocked
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_SLOT_ID_INVALID:
		kind = ErrCardRemoved
	case pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID:
		kind = ErrNotFound
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_KEY_SIZE_RANGE,
		pkcs11.CKR_KEY_TYPE_INCONSISTENT, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED,
		pkcs11.CKR_FUNCTION_NOT_SUPPORTED, pkcs11.CKR_DOMAIN_PARAMS_INVALID, pkcs11.CKR_CURVE_NOT_SUPPORTED,
		pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, pkcs11.CKR_TEMPLATE_INCONSISTENT:
		kind = ErrUnsupported
	case pkcs11.CKR_FUNCTION_CANCELED:
		kind = ErrCancelled
	case pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_DATA_INVALID, pkcs11.CKR_ARGUMENTS_BAD,
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:
		kind = ErrInvalidInput
	default:
		kind = errModule
	}
	return &moduleError{kind, rv}
}

// errModule stands for a CKR_* code with no meaning of its own to a caller.
var errModule = errors.New("the card's module reported an error")
