package demo

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/democa"
)

// An activation is one person's way through the portal, as a CA's portal
// keeps it on its server: the name and address asked first, then the
// request and the certificate issued for it. The page keeps only its id,
// in the address bar, so a reload resumes it; which key on the card
// belongs to it the page learns from cardbridge (keys.list), by the label
// it gave the key (KeyLabel).
type activation struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	KeyLabel string `json:"keyLabel"`
	// KeyID is the CKA_ID (hex, as keys.list gives it) of the key the
	// request was made with: the new key, or one the user chose to reuse.
	KeyID       string   `json:"keyId,omitempty"`
	CSR         string   `json:"csr,omitempty"`
	Certificate string   `json:"certificate,omitempty"`
	Chain       []string `json:"chain,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	NotAfter    string   `json:"notAfter,omitempty"`
}

// keyLabelPrefix starts the label of every key the portal makes; the
// activation's id follows, so each activation finds its own key.
const keyLabelPrefix = "Demo CA S/MIME "

type activations struct {
	mu sync.Mutex
	m  map[string]*activation
}

const maxActivations = 1000

func (p *Portal) activationRoutes(mux *http.ServeMux) {
	as := &activations{m: map[string]*activation{}}
	mux.HandleFunc("POST /api/activations", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name, Email string }
		if err := decode(r, &req); err != nil {
			fail(w, http.StatusBadRequest, "bad request: %v", err)
			return
		}
		name, email := strings.TrimSpace(req.Name), strings.TrimSpace(req.Email)
		if msg := checkDetails(name, email); msg != "" {
			fail(w, http.StatusUnprocessableEntity, "%s", msg)
			return
		}
		id := make([]byte, 4)
		rand.Read(id)
		a := &activation{ID: hex.EncodeToString(id), Name: name, Email: email}
		a.KeyLabel = keyLabelPrefix + a.ID
		as.mu.Lock()
		if len(as.m) >= maxActivations {
			clear(as.m) // a demo; a real portal keeps them in its database
		}
		as.m[a.ID] = a
		as.mu.Unlock()
		writeJSON(w, a)
	})
	mux.HandleFunc("GET /api/activations/{id}", func(w http.ResponseWriter, r *http.Request) {
		as.mu.Lock()
		a, ok := as.m[r.PathValue("id")]
		var cp activation
		if ok {
			cp = *a
		}
		as.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, "this activation is unknown; start a new one")
			return
		}
		writeJSON(w, cp)
	})
	// request takes the certificate request made on the card and plays
	// the CA: it checks that the request names the activation's address
	// and issues the certificate at once.
	mux.HandleFunc("POST /api/activations/{id}/request", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			CSR   string `json:"csr"`
			KeyID string `json:"keyId"`
		}
		if err := decode(r, &req); err != nil {
			fail(w, http.StatusBadRequest, "bad request: %v", err)
			return
		}
		if len(req.KeyID) > 128 || strings.Trim(req.KeyID, "0123456789abcdef") != "" {
			fail(w, http.StatusBadRequest, "bad request: keyId is not hex")
			return
		}
		as.mu.Lock()
		a, ok := as.m[r.PathValue("id")]
		as.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, "this activation is unknown; start a new one")
			return
		}
		cert, err := p.CA.Issue([]byte(req.CSR))
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, "the CA refused the request: %v", err)
			return
		}
		if !slices.Contains(cert.EmailAddresses, a.Email) {
			fail(w, http.StatusUnprocessableEntity, "the CA refused the request: it does not name %s", a.Email)
			return
		}
		as.mu.Lock()
		a.CSR, a.KeyID = req.CSR, req.KeyID
		a.Certificate = democa.PEM(cert)
		a.Chain = []string{democa.PEM(p.CA.Intermediate), democa.PEM(p.CA.Root)}
		a.Subject = cert.Subject.String()
		a.NotAfter = cert.NotAfter.UTC().Format(time.RFC3339)
		cp := *a
		as.mu.Unlock()
		writeJSON(w, cp)
	})
}

// checkDetails says what is wrong with a name and address, in words for
// the form; empty when they are fine. The limits are RFC 5280's.
func checkDetails(name, email string) string {
	switch {
	case name == "":
		return "Enter your name as it should appear in the certificate."
	case utf8.RuneCountInString(name) > 64:
		return "Your name can have at most 64 characters."
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "Your name cannot contain control characters."
	case email == "":
		return "Enter the e-mail address the certificate is for."
	case len(email) > 255:
		return "The e-mail address can have at most 255 characters."
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
		return "Enter a plain e-mail address, such as name@example.org."
	}
	return ""
}
