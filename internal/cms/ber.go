package cms

import (
	"errors"
	"fmt"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

var errBER = errors.New("malformed BER")

// toDER rewrites BER as DER, as far as encoding/asn1 needs: indefinite
// lengths become definite, and constructed (chunked) strings become
// primitive ones. openssl smime writes such streaming BER.
func toDER(in []byte) ([]byte, error) {
	out, rest, err := convert(in, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 && !allZero(rest) {
		return nil, fmt.Errorf("%w: %d bytes after the data", errBER, len(rest))
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// tlv is one parsed element.
type tlv struct {
	class, tag  int
	constructed bool
	header      int // bytes of identifier and length
	indefinite  bool
	length      int
}

func readHeader(b []byte) (tlv, error) {
	var t tlv
	if len(b) < 2 {
		return t, fmt.Errorf("%w: truncated header", errBER)
	}
	t.class = int(b[0] >> 6)
	t.constructed = b[0]&0x20 != 0
	t.tag = int(b[0] & 0x1f)
	i := 1
	if t.tag == 0x1f {
		t.tag = 0
		for {
			if i >= len(b) || i > 4 {
				return t, fmt.Errorf("%w: bad tag", errBER)
			}
			t.tag = t.tag<<7 | int(b[i]&0x7f)
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return t, fmt.Errorf("%w: truncated length", errBER)
	}
	l := b[i]
	i++
	switch {
	case l == 0x80:
		if !t.constructed {
			return t, fmt.Errorf("%w: indefinite primitive", errBER)
		}
		t.indefinite = true
	case l < 0x80:
		t.length = int(l)
	default:
		n := int(l & 0x7f)
		if n > 4 || i+n > len(b) {
			return t, fmt.Errorf("%w: bad length", errBER)
		}
		for j := 0; j < n; j++ {
			t.length = t.length<<8 | int(b[i+j])
		}
		i += n
	}
	t.header = i
	if !t.indefinite && t.length > len(b)-i {
		return t, fmt.Errorf("%w: length %d beyond the data", errBER, t.length)
	}
	return t, nil
}

// convert reads one element from in and returns its DER and what follows.
func convert(in []byte, depth int) (der, rest []byte, err error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested too deep", errBER)
	}
	t, err := readHeader(in)
	if err != nil {
		return nil, nil, err
	}
	if !t.constructed {
		end := t.header + t.length
		return encode(in[0], t, in[t.header:end]), in[end:], nil
	}
	var body []byte
	var children [][]byte
	if t.indefinite {
		rest = in[t.header:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				rest = rest[2:]
				break
			}
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%w: missing end of contents", errBER)
			}
			var c []byte
			if c, rest, err = convert(rest, depth+1); err != nil {
				return nil, nil, err
			}
			children = append(children, c)
		}
	} else {
		inner := in[t.header : t.header+t.length]
		rest = in[t.header+t.length:]
		for len(inner) > 0 {
			var c []byte
			if c, inner, err = convert(inner, depth+1); err != nil {
				return nil, nil, err
			}
			children = append(children, c)
		}
	}
	// A constructed OCTET STRING (universal 4) is a string in chunks;
	// DER wants the chunks joined into one primitive string.
	if t.class == 0 && t.tag == 4 {
		for _, c := range children {
			ct, err := readHeader(c)
			if err != nil || ct.constructed || ct.tag != 4 {
				return nil, nil, fmt.Errorf("%w: bad octet string chunk", errBER)
			}
			body = append(body, c[ct.header:]...)
		}
		return encode(0x04, tlv{}, body), rest, nil
	}
	for _, c := range children {
		body = append(body, c...)
	}
	return encode(in[0]&^0x00, t, body), rest, nil
}

// encode writes identifier octets (the first byte, plus long-form tag
// bytes if any) with a definite length.
func encode(first byte, t tlv, body []byte) []byte {
	id := []byte{first}
	if first&0x1f == 0x1f {
		var tagBytes []byte
		tag := t.tag
		tagBytes = append(tagBytes, byte(tag&0x7f))
		for tag >>= 7; tag > 0; tag >>= 7 {
			tagBytes = append([]byte{byte(tag&0x7f) | 0x80}, tagBytes...)
		}
		id = append(id, tagBytes...)
	}
	n := len(body)
	var l []byte
	switch {
	case n < 0x80:
		l = []byte{byte(n)}
	case n < 0x100:
		l = []byte{0x81, byte(n)}
	case n < 0x10000:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	case n < 0x1000000:
		l = []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	default:
		l = []byte{0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	out := make([]byte, 0, len(id)+len(l)+n)
	return append(append(append(out, id...), l...), body...)
}
