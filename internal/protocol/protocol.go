// Package protocol holds every type that crosses the wire between a web
// page and cardbridge, and the error codes. PROTOCOL.md in this directory
// is the reference for portal developers; the two change together.
//
// The protocol is JSON-RPC 2.0. Error codes are append-only: a code, once
// published, keeps its meaning forever.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Version is the protocol version reported by system.info.
const Version = 1

// MaxFrame is the largest request or response frame, in bytes.
const MaxFrame = 1 << 20

// Standard JSON-RPC error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
)

// cardbridge error codes. Append only.
const (
	CodeUserCancelled       = 1001
	CodePINIncorrect        = 1002
	CodePINLocked           = 1003
	CodeCardNotPresent      = 1004
	CodeKeyNotFound         = 1005
	CodeUnsupported         = 1006
	CodeOriginDenied        = 1007
	CodeBusy                = 1008
	CodeCardRemoved         = 1009
	CodeCertificateMismatch = 1010
	CodeTimeout             = 1011
	CodeSlotOccupied        = 1012
	CodeCardNotAnswering    = 1013
	CodeInternal            = 1099
)

// codeNames are the stable error messages; the detail goes in data.reason.
var codeNames = map[int]string{
	CodeParseError:          "parse_error",
	CodeInvalidRequest:      "invalid_request",
	CodeMethodNotFound:      "method_not_found",
	CodeInvalidParams:       "invalid_params",
	CodeUserCancelled:       "user_cancelled",
	CodePINIncorrect:        "pin_incorrect",
	CodePINLocked:           "pin_locked",
	CodeCardNotPresent:      "card_not_present",
	CodeKeyNotFound:         "key_not_found",
	CodeUnsupported:         "unsupported_algorithm",
	CodeOriginDenied:        "origin_denied",
	CodeBusy:                "busy",
	CodeCardRemoved:         "card_removed",
	CodeCertificateMismatch: "certificate_mismatch",
	CodeTimeout:             "timeout",
	CodeSlotOccupied:        "slot_occupied",
	CodeCardNotAnswering:    "card_not_answering",
	CodeInternal:            "internal",
}

// Error is a JSON-RPC error object.
type Error struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *ErrorData `json:"data,omitempty"`
}

// ErrorData carries the human-readable reason and, for pin_incorrect, what
// the card says about the tries left.
type ErrorData struct {
	Reason   string `json:"reason"`
	CountLow *bool  `json:"countLow,omitempty"`
	FinalTry *bool  `json:"finalTry,omitempty"`
}

func (e *Error) Error() string {
	if e.Data != nil && e.Data.Reason != "" {
		return fmt.Sprintf("%s (%d): %s", e.Message, e.Code, e.Data.Reason)
	}
	return fmt.Sprintf("%s (%d)", e.Message, e.Code)
}

// Errorf makes an Error with the code's stable name as message and the
// formatted text as reason.
func Errorf(code int, format string, args ...any) *Error {
	name, ok := codeNames[code]
	if !ok {
		name = "error"
	}
	return &Error{Code: code, Message: name, Data: &ErrorData{Reason: fmt.Sprintf(format, args...)}}
}

// Request is a JSON-RPC request.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// IsNotification reports a request without an id, which gets no answer.
func (r *Request) IsNotification() bool { return len(r.ID) == 0 }

// Response is a JSON-RPC response: Result or Error.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Notification is a message from cardbridge that answers no request, such
// as cards.changed.
type Notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// NewResponse answers req with result or err.
func NewResponse(id json.RawMessage, result any, err *Error) *Response {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	r := &Response{JSONRPC: "2.0", ID: id}
	if err != nil {
		r.Error = err
	} else {
		if result == nil {
			result = struct{}{}
		}
		r.Result = result
	}
	return r
}

// Decode parses one frame into a request. On failure it returns the error
// to send back and, where it could be read, the request's id.
func Decode(frame []byte) (*Request, *Error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) > MaxFrame {
		return nil, Errorf(CodeInvalidRequest, "frame of %d bytes exceeds the limit of %d", len(frame), MaxFrame)
	}
	if len(frame) == 0 {
		return nil, Errorf(CodeInvalidRequest, "empty frame")
	}
	if frame[0] == '[' {
		return nil, Errorf(CodeInvalidRequest, "batch requests are not supported; use the digests parameter to sign many")
	}
	var req Request
	if err := json.Unmarshal(frame, &req); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return nil, Errorf(CodeInvalidRequest, "request is not a JSON-RPC object: %v", err)
		}
		return nil, Errorf(CodeParseError, "frame is not valid JSON: %v", err)
	}
	if perr := checkStrict(frame); perr != nil {
		// The id is not echoed: with a key given twice, which id was
		// meant is exactly what cannot be told.
		return nil, perr
	}
	switch {
	case req.JSONRPC != "2.0":
		return &req, Errorf(CodeInvalidRequest, `jsonrpc must be "2.0"`)
	case req.Method == "":
		return &req, Errorf(CodeInvalidRequest, "method is missing")
	case len(req.ID) > 0 && !validID(req.ID):
		id := req.ID
		req.ID = nil
		return &req, Errorf(CodeInvalidRequest, "id must be a string, a number or null, not %.40s", id)
	}
	return &req, nil
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'n':
		return true
	}
	return false
}

// secretFields are names a page might use to send a PIN. cardbridge asks
// for secrets in its own dialog only, so a request carrying one is refused
// outright rather than silently ignored.
var secretFields = []string{"pin", "puk", "sopin", "password", "passphrase", "newpin", "oldpin"}

// DecodeParams decodes params into v strictly: unknown fields are errors,
// and so is any field that looks like a PIN. No params type has such a
// field, so a request that decodes cleanly carries none, and the names
// are looked at only when decoding fails: for a batch of digests that
// saves a pass over the whole frame.
func DecodeParams(params json.RawMessage, v any) *Error {
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(params, &fields) != nil {
		return Errorf(CodeInvalidParams, "params must be an object")
	}
	for name := range fields {
		for _, s := range secretFields {
			if strings.EqualFold(name, s) {
				return Errorf(CodeInvalidParams, "a %s is never sent over the wire; cardbridge asks for it in its own dialog", name)
			}
		}
	}
	return Errorf(CodeInvalidParams, "%s", strings.TrimPrefix(err.Error(), "json: "))
}
