package vcard

import "errors"

var errTLV = errors.New("malformed tlv")

// tlv encodes one BER-TLV with a tag of one or more bytes (7F49, 5FC105 are
// written as their full byte sequence) and a definite length.
func tlv(tag []byte, value []byte) []byte {
	out := append([]byte{}, tag...)
	out = append(out, berLen(len(value))...)
	return append(out, value...)
}

func tlv1(tag byte, value []byte) []byte { return tlv([]byte{tag}, value) }

func berLen(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	default:
		return []byte{0x82, byte(n >> 8), byte(n)}
	}
}

// readTLV splits the first single-byte-tag TLV off b. PIV templates (7C, AC,
// PUT DATA, IMPORT) only use single-byte tags inside.
func readTLV(b []byte) (tag byte, value, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errTLV
	}
	tag = b[0]
	n, l := 0, int(b[1])
	b = b[2:]
	switch {
	case l < 0x80:
		n = l
	case l == 0x81 && len(b) >= 1:
		n, b = int(b[0]), b[1:]
	case l == 0x82 && len(b) >= 2:
		n, b = int(b[0])<<8|int(b[1]), b[2:]
	default:
		return 0, nil, nil, errTLV
	}
	if n > len(b) {
		return 0, nil, nil, errTLV
	}
	return tag, b[:n], b[n:], nil
}

// parseTLVs reads a flat list of single-byte-tag TLVs; a repeated tag keeps
// its first value.
func parseTLVs(b []byte) (map[byte][]byte, error) {
	m := map[byte][]byte{}
	for len(b) > 0 {
		tag, v, rest, err := readTLV(b)
		if err != nil {
			return nil, err
		}
		if _, ok := m[tag]; !ok {
			m[tag] = v
		}
		b = rest
	}
	return m, nil
}

// unwrap returns the value of the single TLV tagged tag that b consists of.
func unwrap(tag byte, b []byte) ([]byte, error) {
	t, v, rest, err := readTLV(b)
	if err != nil || t != tag || len(rest) != 0 {
		return nil, errTLV
	}
	return v, nil
}
