package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// maxDepth bounds how deeply a request may nest. Real requests nest four
// levels (envelope, params, csr, subject).
const maxDepth = 32

// checkStrict walks a whole frame with encoding/json's own tokenizer and
// refuses what encoding/json would otherwise let through quietly:
//
//   - a key given twice in one object, or in two spellings that differ
//     only in case ("method" beside "METHOD"). encoding/json keeps the
//     last one and matches names without regard to case, so the daemon
//     and whatever checked the frame before it (an extension, a proxy, a
//     log) could read two different requests from the same bytes;
//   - a secret's name (see secretFields) as a key at any depth, at the
//     envelope as much as in params: cardbridge asks for secrets in its
//     own dialog only;
//   - nesting deeper than maxDepth.
//
// It returns nil for frames it has no complaint about, and leaves syntax
// errors to json.Unmarshal, which words them better.
func checkStrict(frame []byte) *Error {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber() // numbers are skipped, not converted
	// Per open container: the keys seen so far (nil for an array), and
	// whether the next string token in an object is a key.
	type level struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // a syntax error: json.Unmarshal reports it
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top >= 0 && stack[top].keys != nil {
					stack[top].expectKey = true // this object was a value
				}
				stack = append(stack, level{keys: map[string]bool{}, expectKey: true})
				if len(stack) > maxDepth {
					return Errorf(CodeInvalidRequest, "the request nests more than %d levels deep", maxDepth)
				}
			case '[':
				if top >= 0 && stack[top].keys != nil {
					stack[top].expectKey = true
				}
				stack = append(stack, level{})
				if len(stack) > maxDepth {
					return Errorf(CodeInvalidRequest, "the request nests more than %d levels deep", maxDepth)
				}
			default: // '}' or ']'
				stack = stack[:top]
				if top > 0 && stack[top-1].keys != nil {
					stack[top-1].expectKey = true
				}
			}
		case string:
			if top < 0 || stack[top].keys == nil || !stack[top].expectKey {
				if top >= 0 && stack[top].keys != nil {
					stack[top].expectKey = true
				}
				continue // a value
			}
			stack[top].expectKey = false
			folded := strings.ToLower(t)
			if isSecretName(folded) {
				return Errorf(CodeInvalidParams, "a %s is never sent over the wire; cardbridge asks for it in its own dialog", truncate(t, 32))
			}
			if stack[top].keys[folded] {
				return Errorf(CodeInvalidRequest, "key %q appears twice (names are compared without regard to case)", truncate(t, 32))
			}
			stack[top].keys[folded] = true
		default: // a number, bool or null value
			if top >= 0 && stack[top].keys != nil {
				stack[top].expectKey = true
			}
		}
	}
}

// isSecretName reports a lower-cased key that names a secret.
func isSecretName(folded string) bool {
	for _, s := range secretFields {
		if folded == s {
			return true
		}
	}
	return false
}

// truncate bounds a caller-supplied string before it goes into an error
// message or a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so that the result stays valid UTF-8.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
