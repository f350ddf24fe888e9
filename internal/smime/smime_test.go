package smime

import (
	"strings"
	"testing"
)

func TestParseAndSignedEntity(t *testing.T) {
	raw := "From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nX-Long: one\n two\n\nHällo\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Summarize(); s.Subject != "Grüße" || s.From != "Alice <alice@example.org>" {
		t.Fatalf("summary = %+v", s)
	}
	if a, _ := m.FromAddress(); a != "alice@example.org" {
		t.Fatalf("from = %q", a)
	}
	e := string(m.SignedEntity())
	if !strings.HasPrefix(e, "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n") {
		t.Fatalf("8-bit body not re-encoded:\n%s", e)
	}
	signed := string(m.Signed([]byte(e), []byte{1, 2, 3}, "sha-256"))
	if !strings.Contains(signed, "X-Long: one\r\n two\r\n") || !strings.Contains(signed, "multipart/signed") || strings.Contains(signed, "\n\n") {
		t.Fatalf("signed:\n%s", signed)
	}
}

func TestBadMessages(t *testing.T) {
	for _, raw := range []string{"", "no header end", ": empty name\n\nx", " continuation\n\n", "Bad Name: x\n\n"} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("Parse(%q) accepted", raw)
		}
	}
	m, _ := Parse([]byte("Content-Type: text/plain\n\nhello"))
	if _, err := m.Enveloped(); err == nil {
		t.Error("plain text taken for an encrypted message")
	}
	m, _ = Parse([]byte("Content-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\n!!!"))
	if _, err := m.Enveloped(); err == nil {
		t.Error("damaged base64 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@b.c\r\nContent-Type: application/x-pkcs7-mime; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n"))
	f.Add([]byte("Subject: x\n\tfolded\n\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		m.Summarize()
		m.FromAddress()
		m.Enveloped()
		e := m.SignedEntity()
		m.Signed(e, []byte("sig"), "sha-256")
	})
}
