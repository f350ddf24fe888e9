package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/smime"
)

// mailbox is the demo webmail's in-memory inbox.
type mailbox struct {
	mu   sync.Mutex
	msgs []mailItem
}

type mailItem struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"` // "signed" or "encrypted"
	Raw     []byte `json:"raw"`
	// Check is the server's check of a signed message's signature.
	Check *signatureCheck `json:"check,omitempty"`
}

func (b *mailbox) add(m mailItem) mailItem {
	id := make([]byte, 6)
	rand.Read(id)
	m.ID = hex.EncodeToString(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append([]mailItem{m}, b.msgs...)
	if len(b.msgs) > 50 {
		b.msgs = b.msgs[:50]
	}
	return m
}

func (p *Portal) mailRoutes(mux *http.ServeMux) {
	box := &mailbox{}
	mux.HandleFunc("GET /api/mail/inbox", func(w http.ResponseWriter, r *http.Request) {
		box.mu.Lock()
		defer box.mu.Unlock()
		writeJSON(w, map[string]any{"messages": append([]mailItem{}, box.msgs...)})
	})
	// send takes a message the page signed and delivers it to the inbox.
	mux.HandleFunc("POST /api/mail/send", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Message []byte `json:"message"`
		}
		if err := decode(r, &req); err != nil {
			fail(w, http.StatusBadRequest, "bad request: %v", err)
			return
		}
		m, err := smime.Parse(req.Message)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		if !strings.HasPrefix(strings.ToLower(m.Get("Content-Type")), "multipart/signed") {
			fail(w, http.StatusBadRequest, "only signed messages are accepted")
			return
		}
		s := m.Summarize()
		check := p.checkSigned(req.Message)
		writeJSON(w, box.add(mailItem{From: s.From, Subject: s.Subject, Kind: "signed", Raw: req.Message, Check: &check}))
	})
	// encrypted plays a correspondent who writes to the user encrypted,
	// for the certificate the page names.
	mux.HandleFunc("POST /api/mail/encrypted", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Certificate string `json:"certificate"`
		}
		if err := decode(r, &req); err != nil {
			fail(w, http.StatusBadRequest, "bad request: %v", err)
			return
		}
		cert, err := csr.ParseCertificate(req.Certificate)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		to := "you"
		if e := csr.Emails(cert); len(e) > 0 {
			to = e[0]
		}
		inner := "Content-Type: text/plain; charset=utf-8\r\n\r\n" +
			"Hello,\r\n\r\nyour certificate works: only the key on your card could open this message.\r\n\r\n-- Demo CA support\r\n"
		der, err := cms.Encrypt([]byte(inner), cert, false)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		subject := "Your new certificate"
		var b strings.Builder
		fmt.Fprintf(&b, "From: Demo CA support <support@ca.example>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n", to, subject, time.Now().UTC().Format(time.RFC1123Z))
		b.WriteString("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n")
		b.WriteString(base64Lines(der))
		writeJSON(w, box.add(mailItem{From: "Demo CA support <support@ca.example>", Subject: subject, Kind: "encrypted", Raw: []byte(b.String())}))
	})
}

func base64Lines(b []byte) string {
	s := base64Std(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}
