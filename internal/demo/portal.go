// Package demo is the demo CA portal that the README's first command
// starts: a small web site that walks through an S/MIME activation the way
// a public CA's portal does, with cardbridge doing the card work and
// democa issuing the certificate.
package demo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/web-extension/sdk"
)

//go:embed static
var static embed.FS

// Portal serves the demo pages and the CA's small API.
type Portal struct {
	CA *democa.CA
	// APIPorts are the ports the page tries for cardbridge's WebSocket.
	APIPorts []int
	// Card is the serial of the card the pages start with when several
	// are present: the demo's own.
	Card string
	// Verified is called with the subject of each test signature the
	// portal's server verified; tests use it.
	Verified func(subject string)
}

// Handler returns the portal's routes.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /sdk/cardbridge.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(sdk.JS)
	})
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"ports": p.APIPorts, "card": p.Card})
	})
	mux.HandleFunc("GET /ca/root.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="cardbridge-demo-root.pem"`)
		fmt.Fprint(w, democa.PEM(p.CA.Root))
	})
	p.activationRoutes(mux)
	// No icon; answering keeps a 404 out of the browser's console.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /api/verify", p.verify)
	p.mailRoutes(mux)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; frame-src cardbridge:; style-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func decode(r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// verify checks a test signature the way a relying party would: the
// certificate must chain to the CA, and the signature over the message
// must verify with its key.
func (p *Portal) verify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Certificate string `json:"certificate"`
		Message     string `json:"message"`
		Signature   []byte `json:"signature"`
		Algorithm   string `json:"algorithm"`
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
	if err := p.CA.Verify(cert); err != nil {
		fail(w, http.StatusUnprocessableEntity, "the certificate does not chain to the demo CA: %v", err)
		return
	}
	if err := checkSignature(cert.PublicKey, req.Algorithm, []byte(req.Message), req.Signature); err != nil {
		fail(w, http.StatusUnprocessableEntity, "the signature does not verify: %v", err)
		return
	}
	if p.Verified != nil {
		p.Verified(cert.Subject.String())
	}
	writeJSON(w, map[string]any{"ok": true, "subject": cert.Subject.String(), "emails": csr.Emails(cert)})
}

func checkSignature(pub crypto.PublicKey, alg string, msg, sig []byte) error {
	var h crypto.Hash
	var digest []byte
	switch {
	case strings.HasSuffix(alg, "SHA256"):
		d := sha256.Sum256(msg)
		h, digest = crypto.SHA256, d[:]
	case strings.HasSuffix(alg, "SHA384"):
		d := sha512.Sum384(msg)
		h, digest = crypto.SHA384, d[:]
	case strings.HasSuffix(alg, "SHA512"):
		d := sha512.Sum512(msg)
		h, digest = crypto.SHA512, d[:]
	default:
		return fmt.Errorf("unknown algorithm %q", alg)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "RSA-PSS") {
			return rsa.VerifyPSS(k, h, digest, sig, nil)
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ecdsa verification failed")
		}
		return nil
	}
	return fmt.Errorf("unsupported key %T", pub)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
