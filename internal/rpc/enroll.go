package rpc

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/p12"
	"github.com/cardbridge/cardbridge/internal/pin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

func csrRequest(p protocol.CSRRequest) csr.Request {
	return csr.Request{Subject: csr.Subject(p.Subject), Emails: p.Emails, SignatureAlgorithm: p.SignatureAlgorithm}
}

func (s *Service) csrCreate(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CSRCreateParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	req := csrRequest(protocol.CSRRequest{Subject: p.Subject, Emails: p.Emails, SignatureAlgorithm: p.SignatureAlgorithm})
	if err := req.Check(); err != nil {
		return nil, err
	}
	reader, k, release, err := s.claimKey(ctx, c, p.Card, p.KeyID)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := csr.SignatureAlgorithm(req.SignatureAlgorithm, k.Public); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "%v", err)
	}
	what := fmt.Sprintf("create a certificate request for %s with your key %q (%s).", describeSubject(req), k.Label, k.Algorithm)
	var pemCSR []byte
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) error {
		pemCSR, err = csr.Create(sess.Signer(k), req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return protocol.CSRCreateResult{CSR: string(pemCSR)}, nil
}

func describeSubject(r csr.Request) string {
	var parts []string
	for _, v := range []string{r.Subject.CommonName, r.Subject.EmailAddress} {
		if v != "" {
			parts = append(parts, pin.Clean(v, 80))
		}
	}
	for _, e := range r.Emails {
		if !strings.EqualFold(e, r.Subject.EmailAddress) {
			parts = append(parts, pin.Clean(e, 80))
		}
	}
	if len(parts) == 0 {
		return "your organisation"
	}
	return strings.Join(parts, ", ")
}

// parseCerts reads the certificate and chain of certificates.install,
// bounded, and returns the chain ordered from the certificate's issuer up.
func parseCerts(leaf string, chain []string) (*x509.Certificate, []*x509.Certificate, error) {
	if len(chain) > maxChain {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidParams, "a chain has at most %d certificates", maxChain)
	}
	cert, err := csr.ParseCertificate(leaf)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	if err := checkCert("the certificate", cert); err != nil {
		return nil, nil, err
	}
	var out []*x509.Certificate
	for i, s := range chain {
		c, err := csr.ParseCertificate(s)
		if err != nil {
			return nil, nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		if !c.IsCA {
			return nil, nil, protocol.Errorf(protocol.CodeInvalidParams, "chain[%d] (%s) is not a CA certificate", i, labelFrom(c.Subject.CommonName))
		}
		if err := checkCert(fmt.Sprintf("chain[%d]", i), c); err != nil {
			return nil, nil, err
		}
		if err := checkCALabel(c); err != nil {
			return nil, nil, err
		}
		out = append(out, c)
	}
	out, err = issuerPath(cert, out)
	if err != nil {
		return nil, nil, err
	}
	return cert, out, nil
}

func (s *Service) certificatesInstall(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CertificatesInstallParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	cert, chain, err := parseCerts(p.Certificate, p.Chain)
	if err != nil {
		return nil, err
	}
	reader, release, err := s.claimCard(c, p.Card)
	if err != nil {
		return nil, err
	}
	defer release()
	// A certificate for no key on the card is refused before any dialog.
	var k token.KeyInfo
	err = s.cfg.Tokens.Do(ctx, reader.Card.Serial, nil, func(sess *token.Session) (err error) {
		k, err = sess.MatchKey(cert.PublicKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	label := labelFrom(cert.Subject.CommonName)
	if label == "" {
		label = k.Label
	}
	what := fmt.Sprintf("store the certificate of %q, issued by %q and valid until %s, with your key %q.",
		labelFrom(cert.Subject.CommonName), labelFrom(cert.Issuer.CommonName), cert.NotAfter.Format("2 January 2006"), labelFrom(k.Label))
	err = s.withPIN(s.managementKey(ctx, c, reader), c, reader.Card.Serial, what, func(sess *token.Session) (err error) {
		k, err = sess.InstallCertificate(cert, label, chain)
		return err
	})
	if err != nil {
		return nil, err
	}
	return protocol.CertificatesInstallResult{
		KeyID: k.IDHex(), Subject: cert.Subject.String(),
		NotAfter: cert.NotAfter.UTC().Format(time.RFC3339), Expired: time.Now().After(cert.NotAfter),
	}, nil
}

func (s *Service) certificatesList(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CardParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	var stored []token.StoredCertificate
	var keys []token.KeyInfo
	err := s.cfg.Tokens.Do(ctx, p.Card, nil, func(sess *token.Session) (err error) {
		if stored, err = sess.Certificates(); err != nil {
			return err
		}
		keys, err = sess.Keys()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := protocol.CertificatesList{Certificates: []protocol.Certificate{}}
	room := listRoom
	for _, sc := range stored {
		if len(sc.DER) > maxCertSize {
			continue // junk from elsewhere: listing it could not fit a frame
		}
		cert, err := x509.ParseCertificate(sc.DER)
		if err != nil {
			continue // not ours to judge; it stays on the card
		}
		if room -= certListSize(cert); room < 0 {
			s.cfg.Log.Warn("certificates.list: the card holds more certificates than one answer carries", zap.Int("listed", len(out.Certificates)), zap.Int("stored", len(stored)))
			break
		}
		pc := protocol.Certificate{
			DER: sc.DER, Subject: cert.Subject.String(), Issuer: cert.Issuer.String(),
			SerialNumber: hex.EncodeToString(cert.SerialNumber.Bytes()),
			NotBefore:    cert.NotBefore.UTC().Format(time.RFC3339), NotAfter: cert.NotAfter.UTC().Format(time.RFC3339),
			Emails: csr.Emails(cert), IsCA: cert.IsCA || sc.Category == 2,
		}
		if pc.Emails == nil {
			pc.Emails = []string{}
		}
		for _, k := range keys {
			if string(k.ID) == string(sc.ID) && !pc.IsCA {
				id := k.IDHex()
				pc.KeyID = &id
			}
		}
		out.Certificates = append(out.Certificates, pc)
	}
	return out, nil
}

func (s *Service) keysDelete(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.KeysDeleteParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	reader, k, release, err := s.claimKey(ctx, c, p.Card, p.KeyID)
	if err != nil {
		return nil, err
	}
	defer release()
	cert := "It has no certificate."
	if k.Certificate != nil {
		if pc, err := x509.ParseCertificate(k.Certificate); err == nil {
			cert = fmt.Sprintf("Its certificate for %q is deleted too.", pc.Subject.CommonName)
		}
	}
	err = s.prompter().Confirm(ctx, pin.Prompt{
		Title: dialogTitle,
		Description: fmt.Sprintf("%s wants to DELETE the key %q (%s, id %s) from card %s.\n%s\n\nThis cannot be undone.",
			c.Origin, k.Label, k.Algorithm, shortID(k.IDHex()), protocol.GroupSerial(reader.Card.Serial), cert),
		OK: "Delete", Cancel: "Keep",
	})
	switch {
	case err == nil:
	case isRefusal(err):
		return nil, protocol.Errorf(protocol.CodeUserCancelled, "the user kept the key")
	default:
		return nil, err
	}
	what := fmt.Sprintf("delete the key %q (%s) from your card.", k.Label, k.Algorithm)
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) error { return sess.DeleteKey(k.ID) })
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}

func (s *Service) pkcs12Import(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.PKCS12ImportParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if err := checkLabel(p.Label); err != nil {
		return nil, err
	}
	reader, release, err := s.claimCard(c, p.Card)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.ImportPKCS12(ctx, c, reader.Card.Serial, p.PKCS12, p.Label)
}

// ImportPKCS12 asks for the bundle's password, opens the bundle, and
// writes its key, certificate and chain to the card after the PIN. A wrong
// password stops before the card is touched. The import-p12 command uses
// it too, with a caller naming the command.
func (s *Service) ImportPKCS12(ctx context.Context, c Caller, serial string, data []byte, label string) (*protocol.PKCS12ImportResult, error) {
	origin := c.Origin
	password, err := s.prompter().GetPIN(ctx, pin.Prompt{
		Title:       dialogTitle,
		Description: fmt.Sprintf("%s wants to put a certificate file (.p12/.pfx) onto card %s.\n\nEnter the password of the file.", origin, protocol.GroupSerial(serial)),
		Label:       "Password:",
	})
	if err != nil {
		return nil, err
	}
	// The password dialog may have taken minutes: a page that left in the
	// meantime gets no decoding.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bundle, err := p12.Decode(ctx, data, password)
	if err != nil {
		return nil, err
	}
	key, cert, chain := bundle.Key, bundle.Cert, bundle.Chain
	if label == "" {
		label = labelFrom(cert.Subject.CommonName)
	}
	what := fmt.Sprintf("store the key and certificate of %q (issued by %q) from a certificate file on your card.",
		labelFrom(cert.Subject.CommonName), labelFrom(cert.Issuer.CommonName))
	caCerts, err := bundleChain(cert, chain)
	if err != nil {
		return nil, err
	}
	var k token.KeyInfo
	err = s.withPIN(ctx, c, serial, what, func(sess *token.Session) (err error) {
		k, err = sess.ImportKey(key, cert, caCerts, label)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &protocol.PKCS12ImportResult{KeyID: k.IDHex(), Algorithm: k.Algorithm, Subject: cert.Subject.String(),
		NotAfter: cert.NotAfter.UTC().Format(time.RFC3339), Chain: len(caCerts)}, nil
}

// bundleChain keeps the CA certificates of a bundle that are on its
// certificate's issuer path; a bundle's other certificates stay off the
// card. The bounds of certificates.install apply.
func bundleChain(cert *x509.Certificate, chain []*x509.Certificate) ([]*x509.Certificate, error) {
	if err := checkCert("the bundle's certificate", cert); err != nil {
		return nil, err
	}
	var path []*x509.Certificate
	for cur := cert; len(path) <= maxChain; {
		i := issuerOf(cur, chain)
		if i < 0 || slices.Contains(path, chain[i]) {
			break
		}
		cur = chain[i]
		if err := checkCert("a CA certificate of the bundle", cur); err != nil {
			return nil, err
		}
		if err := checkCALabel(cur); err != nil {
			return nil, err
		}
		path = append(path, cur)
	}
	if len(path) > maxChain {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "the bundle's chain has more than %d certificates", maxChain)
	}
	return path, nil
}
