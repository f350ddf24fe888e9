// Package smime turns RFC 5322 messages into S/MIME ones and back
// (RFC 8551): it wraps a message into multipart/signed around a detached
// CMS signature, and finds the CMS inside an application/pkcs7-mime
// message. The cryptography is in package cms; the keys are on the card.
package smime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
)

// MaxMessage bounds the messages we parse.
const MaxMessage = 768 << 10

// ErrInvalid marks a message we cannot handle; the text says why.
var ErrInvalid = errors.New("invalid message")

// Header is one header field, kept in order and with its original name.
type Header struct{ Name, Value string }

// Message is a parsed RFC 5322 message or MIME entity.
type Message struct {
	Headers []Header
	Body    []byte // with CRLF line endings
}

// Get returns the first value of a header, unfolded.
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return strings.TrimSpace(h.Value)
		}
	}
	return ""
}

// Parse reads a message. Line endings may be LF or CRLF; the result uses
// CRLF, as canonical MIME does.
func Parse(raw []byte) (*Message, error) {
	if len(raw) == 0 || len(raw) > MaxMessage {
		return nil, fmt.Errorf("%w: a message must be 1 byte to %d KiB", ErrInvalid, MaxMessage>>10)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	m := &Message{}
	var last *Header
	for {
		line, err := r.ReadLine()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no blank line ends the header", ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == nil {
				return nil, fmt.Errorf("%w: continuation line before any header", ErrInvalid)
			}
			last.Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: bad header line %.40q", ErrInvalid, line)
		}
		m.Headers = append(m.Headers, Header{Name: name, Value: value})
		last = &m.Headers[len(m.Headers)-1]
	}
	body, err := io.ReadAll(r.R)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m.Body = canonical(body)
	if len(m.Headers) == 0 {
		return nil, fmt.Errorf("%w: no header", ErrInvalid)
	}
	return m, nil
}

// canonical turns bare LF line endings into CRLF.
func canonical(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func writeHeaders(w *bytes.Buffer, hs []Header) {
	for _, h := range hs {
		fmt.Fprintf(w, "%s:%s\r\n", h.Name, h.Value)
	}
}

func isContentHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "content-") || n == "mime-version"
}

// Summary says who wrote a message and what about, for a dialog.
type Summary struct{ From, To, Subject string }

// Summarize decodes the From, To and Subject of m for people to read.
func (m *Message) Summarize() Summary {
	dec := new(mime.WordDecoder)
	d := func(s string) string {
		if out, err := dec.DecodeHeader(s); err == nil {
			s = out
		}
		s = strings.Join(strings.Fields(s), " ")
		if len(s) > 120 {
			s = s[:120] + "…"
		}
		return s
	}
	return Summary{From: d(m.Get("From")), To: d(m.Get("To")), Subject: d(m.Get("Subject"))}
}

// FromAddress is the address of the From header.
func (m *Message) FromAddress() (string, error) {
	a, err := mail.ParseAddress(m.Get("From"))
	if err != nil {
		return "", fmt.Errorf("%w: the From header has no address", ErrInvalid)
	}
	return a.Address, nil
}

// SignedEntity is the MIME entity that multipart/signed signs: the
// message's Content-* headers and body, canonical. A non-multipart body
// with 8-bit bytes is re-encoded as base64 first, so that no mail relay
// can change what was signed.
func (m *Message) SignedEntity() []byte {
	var hs []Header
	for _, h := range m.Headers {
		if isContentHeader(h.Name) && !strings.EqualFold(h.Name, "MIME-Version") {
			hs = append(hs, h)
		}
	}
	body := m.Body
	ct := m.Get("Content-Type")
	if ct == "" {
		hs = append([]Header{{"Content-Type", " text/plain; charset=us-ascii"}}, hs...)
	}
	cte := strings.ToLower(m.Get("Content-Transfer-Encoding"))
	if !strings.HasPrefix(strings.ToLower(ct), "multipart/") && has8bit(body) && cte != "base64" && cte != "quoted-printable" {
		var kept []Header
		for _, h := range hs {
			if !strings.EqualFold(h.Name, "Content-Transfer-Encoding") {
				kept = append(kept, h)
			}
		}
		hs = append(kept, Header{"Content-Transfer-Encoding", " base64"})
		body = []byte(wrap76(base64.StdEncoding.EncodeToString(body)))
	}
	var b bytes.Buffer
	writeHeaders(&b, hs)
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// Signed builds the clear-signed multipart/signed message: the outer
// headers of m, then entity (from SignedEntity) and the detached
// signature.
func (m *Message) Signed(entity, signature []byte, micalg string) []byte {
	rnd := make([]byte, 12)
	rand.Read(rnd)
	boundary := "----cardbridge-" + hex.EncodeToString(rnd)
	var b bytes.Buffer
	var outer []Header
	for _, h := range m.Headers {
		if !isContentHeader(h.Name) {
			outer = append(outer, h)
		}
	}
	writeHeaders(&b, outer)
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=%s;\r\n boundary=\"%s\"\r\n\r\n", micalg, boundary)
	b.WriteString("This is a cryptographically signed message in MIME format.\r\n\r\n")
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	b.Write(entity)
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	b.WriteString("Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Description: S/MIME Cryptographic Signature\r\n\r\n")
	b.WriteString(wrap76(base64.StdEncoding.EncodeToString(signature)))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// Enveloped returns the CMS of an application/pkcs7-mime enveloped
// message, or of the legacy application/x-pkcs7-mime that openssl and
// older clients write.
func (m *Message) Enveloped() ([]byte, error) {
	mt, params, err := mime.ParseMediaType(m.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("%w: bad Content-Type: %v", ErrInvalid, err)
	}
	if mt != "application/pkcs7-mime" && mt != "application/x-pkcs7-mime" {
		return nil, fmt.Errorf("%w: %s is not an encrypted S/MIME message", ErrInvalid, mt)
	}
	switch st := strings.ToLower(params["smime-type"]); st {
	case "", "enveloped-data", "authenveloped-data":
	default:
		return nil, fmt.Errorf("%w: smime-type %s is not encrypted", ErrInvalid, st)
	}
	switch cte := strings.ToLower(m.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(m.Body))
		der, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			return nil, fmt.Errorf("%w: the base64 body is damaged", ErrInvalid)
		}
		return der, nil
	case "", "binary", "8bit", "7bit":
		return m.Body, nil
	default:
		return nil, fmt.Errorf("%w: transfer encoding %s", ErrInvalid, cte)
	}
}
