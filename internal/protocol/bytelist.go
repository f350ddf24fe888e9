package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// ByteList is a JSON array of base64 strings, as encoding/json writes
// [][]byte. A batch of 1000 digests spent most of its decoding in
// encoding/json's byte-at-a-time scanner and in one allocation per
// element; the plain form (strings without escapes, standard base64) is
// decoded here in one pass into one buffer. Anything else goes through
// encoding/json, so the accepted input and the error messages are
// exactly those of [][]byte.
type ByteList [][]byte

// UnmarshalJSON implements json.Unmarshaler.
func (l *ByteList) UnmarshalJSON(b []byte) error {
	if out, ok := decodePlainByteList(b); ok {
		*l = out
		return nil
	}
	var out [][]byte
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	*l = out
	return nil
}

// decodePlainByteList decodes `[ "b64", "b64", … ]` (whitespace allowed)
// and reports false for anything it does not handle.
func decodePlainByteList(b []byte) (ByteList, bool) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	body := bytes.TrimSpace(b[1 : len(b)-1])
	if len(body) == 0 {
		return ByteList{}, true
	}
	// Every element is at most its base64 length decoded, so one buffer
	// of DecodedLen(body) holds them all.
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	out := make(ByteList, 0, bytes.Count(body, []byte{','})+1)
	for {
		if len(body) == 0 || body[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(body[1:], '"')
		if end < 0 {
			return nil, false
		}
		s := body[1 : 1+end]
		if bytes.IndexByte(s, '\\') >= 0 || bytes.ContainsAny(s, "\r\n") {
			return nil, false // escapes and line breaks: encoding/json's rules
		}
		n, err := base64.StdEncoding.Decode(buf, s)
		if err != nil {
			return nil, false
		}
		out = append(out, buf[:n:n])
		buf = buf[n:]
		body = bytes.TrimLeft(body[2+end:], " \t\r\n")
		if len(body) == 0 {
			return out, true
		}
		if body[0] != ',' {
			return nil, false
		}
		body = bytes.TrimLeft(body[1:], " \t\r\n")
	}
}
