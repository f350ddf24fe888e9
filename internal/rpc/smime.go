package rpc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/smime"
	"github.com/cardbridge/cardbridge/internal/token"
)

// cardCerts reads the card's keys and CA certificates without a PIN.
func (s *Service) cardCerts(ctx context.Context, serial string) (keys []token.KeyInfo, cas []*x509.Certificate, err error) {
	err = s.cfg.Tokens.Do(ctx, serial, nil, func(sess *token.Session) error {
		if keys, err = sess.Keys(); err != nil {
			return err
		}
		stored, err := sess.Certificates()
		if err != nil {
			return err
		}
		for _, sc := range stored {
			if c, err := x509.ParseCertificate(sc.DER); err == nil && (c.IsCA || sc.Category == 2) {
				cas = append(cas, c)
			}
		}
		return nil
	})
	return keys, cas, err
}

// chainFor follows issuers from cert through the CA certificates found on
// the card, stopping at a self-signed one.
func chainFor(cert *x509.Certificate, cas []*x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	cur := cert
	for i := 0; i < 8 && string(cur.RawIssuer) != string(cur.RawSubject); i++ {
		var next *x509.Certificate
		for _, ca := range cas {
			if string(ca.RawSubject) == string(cur.RawIssuer) && cur.CheckSignatureFrom(ca) == nil {
				next = ca
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// signingCert returns the certificate of k, which CMS needs.
func signingCert(k token.KeyInfo) (*x509.Certificate, error) {
	if k.Certificate == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "key %q has no certificate on the card; install one first", k.Label)
	}
	cert, err := x509.ParseCertificate(k.Certificate)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "the certificate of key %q cannot be read: %v", k.Label, err)
	}
	return cert, nil
}

// signCMS is sign with format "cms".
func (s *Service) signCMS(ctx context.Context, c Caller, p protocol.SignParams) (any, error) {
	hash := crypto.SHA256
	// When the page names no hash, the key's curve picks it, once the
	// key is known; verifiers such as gpgsm refuse a hash shorter than the
	// curve.
	named := p.DigestAlgorithm != "" || p.Algorithm != ""
	var err error
	if p.DigestAlgorithm != "" {
		if hash, err = cms.HashByName(p.DigestAlgorithm); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "%v", err)
		}
	} else if p.Data == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "digestAlgorithm is required with digest or digests")
	}
	var alg token.SignAlgorithm
	if p.Algorithm != "" {
		if alg, err = token.ParseSignAlgorithm(p.Algorithm); err != nil {
			return nil, protocol.Errorf(protocol.CodeUnsupported, "unknown signature algorithm %q", Truncate(p.Algorithm, 32))
		}
		if p.DigestAlgorithm != "" && alg.Hash != hash {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "algorithm %s does not use %s", alg.Name, p.DigestAlgorithm)
		}
		hash = alg.Hash
	}
	if p.Attached && p.Data == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "attached signatures need data")
	}
	digests, batch, err := signInputs(p, token.SignAlgorithm{Name: p.DigestAlgorithm, Hash: hash})
	if err != nil {
		return nil, err
	}
	reader, k, release, err := s.claimKey(ctx, c, p.Card, p.KeyID)
	if err != nil {
		return nil, err
	}
	defer release()
	if !named && curveHash(k) != hash {
		hash = curveHash(k)
		if digests, batch, err = signInputs(p, token.SignAlgorithm{Name: cms.HashName(hash), Hash: hash}); err != nil {
			return nil, err
		}
	}
	if p.Algorithm == "" {
		alg = defaultAlgorithm(k, hash)
	}
	if err := token.CheckKeyFits(k, alg); err != nil {
		return nil, err
	}
	if err := s.cfg.Tokens.CheckMechanism(reader.Card.Serial, alg); err != nil {
		return nil, err
	}
	cert, err := signingCert(k)
	if err != nil {
		return nil, err
	}
	_, cas, err := s.cardCerts(ctx, reader.Card.Serial)
	if err != nil {
		return nil, err
	}
	chain := chainFor(cert, cas)
	n := "1 document"
	if len(digests) > 1 {
		n = fmt.Sprintf("%d documents", len(digests))
	}
	what := fmt.Sprintf("put your electronic signature (CMS, %s) on %s as %q.", alg.Name, n, cert.Subject.CommonName)
	opts := cms.SignOptions{Hash: hash, PSS: alg.PSS}
	if p.Attached {
		opts.Content = p.Data
	}
	var sigs [][]byte
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) error {
		for _, d := range digests {
			sig, err := cms.Sign(sess.Signer(k), cert, chain, d, opts)
			if err != nil {
				return err
			}
			sigs = append(sigs, sig)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return signResult(sigs, batch), nil
}

// curveHash is the hash that matches k's strength: SHA-384 for P-384,
// SHA-512 for P-521, SHA-256 for the rest (RFC 5480, section 4; RFC 8551).
func curveHash(k token.KeyInfo) crypto.Hash {
	if pub, ok := k.Public.(*ecdsa.PublicKey); ok {
		switch pub.Curve.Params().BitSize {
		case 384:
			return crypto.SHA384
		case 521:
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

func defaultAlgorithm(k token.KeyInfo, h crypto.Hash) token.SignAlgorithm {
	for _, a := range token.SignAlgorithms {
		if a.Hash == h && !a.PSS && a.RSA == strings.HasPrefix(k.Algorithm, "RSA") {
			return a
		}
	}
	return token.SignAlgorithms[0]
}

func (s *Service) smimeSign(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.SMIMEParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	msg, err := smime.Parse(p.Message)
	if err != nil {
		return nil, err
	}
	reader, release, err := s.claimCard(c, p.Card)
	if err != nil {
		return nil, err
	}
	defer release()
	keys, cas, err := s.cardCerts(ctx, reader.Card.Serial)
	if err != nil {
		return nil, err
	}
	k, err := pickSigningKey(msg, keys, p.KeyID, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := signingCert(k)
	if err != nil {
		return nil, err
	}
	hash := curveHash(k)
	alg := defaultAlgorithm(k, hash)
	if err := s.cfg.Tokens.CheckMechanism(reader.Card.Serial, alg); err != nil {
		return nil, err
	}
	sum := msg.Summarize()
	// The headers are what the page says; nothing here checks them.
	what := fmt.Sprintf("sign an e-mail with your key %q (%s).\nThe page says it is (not checked by cardbridge):\nSubject %q, from %q to %q.", k.Label, k.Algorithm, sum.Subject, sum.From, sum.To)
	entity := msg.SignedEntity()
	h := hash.New()
	h.Write(entity)
	var sig []byte
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) (err error) {
		sig, err = cms.Sign(sess.Signer(k), cert, chainFor(cert, cas), h.Sum(nil), cms.SignOptions{Hash: hash})
		return err
	})
	if err != nil {
		return nil, err
	}
	return protocol.SMIMEResult{Message: msg.Signed(entity, sig, cms.MicAlg(hash))}, nil
}

// pickSigningKey is keyID's key, or else the key whose certificate names
// the From address, as mail clients choose: of those, the one whose
// certificate is valid now and was issued last, so that a renewal wins
// over the certificate it replaces.
func pickSigningKey(msg *smime.Message, keys []token.KeyInfo, keyID string, now time.Time) (token.KeyInfo, error) {
	if keyID != "" {
		for _, k := range keys {
			if k.IDHex() == strings.ToLower(keyID) {
				return k, nil
			}
		}
		return token.KeyInfo{}, protocol.Errorf(protocol.CodeKeyNotFound, "no key %s on the card", Truncate(keyID, 64))
	}
	from, err := msg.FromAddress()
	if err != nil {
		return token.KeyInfo{}, err
	}
	var best token.KeyInfo
	var bestCert *x509.Certificate
	var invalid []string
	for _, k := range keys {
		if k.Certificate == nil {
			continue
		}
		cert, err := x509.ParseCertificate(k.Certificate)
		if err != nil || !namesAddress(cert, from) {
			continue
		}
		switch {
		case now.Before(cert.NotBefore):
			invalid = append(invalid, fmt.Sprintf("%q is valid only from %s", k.Label, cert.NotBefore.UTC().Format(time.DateOnly)))
		case now.After(cert.NotAfter):
			invalid = append(invalid, fmt.Sprintf("%q expired on %s", k.Label, cert.NotAfter.UTC().Format(time.DateOnly)))
		case bestCert == nil || cert.NotBefore.After(bestCert.NotBefore):
			best, bestCert = k, cert
		}
	}
	if bestCert != nil {
		return best, nil
	}
	if len(invalid) > 0 {
		return token.KeyInfo{}, protocol.Errorf(protocol.CodeKeyNotFound, "no certificate on the card for %s is valid now: %s", from, strings.Join(invalid, "; "))
	}
	return token.KeyInfo{}, protocol.Errorf(protocol.CodeKeyNotFound, "no certificate on the card is for %s", from)
}

func namesAddress(cert *x509.Certificate, addr string) bool {
	for _, e := range csr.Emails(cert) {
		if strings.EqualFold(e, addr) {
			return true
		}
	}
	return false
}

func (s *Service) smimeDecrypt(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.SMIMEParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.KeyID != "" {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "smime.decrypt finds the key itself; leave keyId out")
	}
	msg, err := smime.Parse(p.Message)
	if err != nil {
		return nil, err
	}
	der, err := msg.Enveloped()
	if err != nil {
		return nil, err
	}
	env, err := cms.ParseEnvelope(der)
	if err != nil {
		return nil, err
	}
	reader, release, err := s.claimCard(c, p.Card)
	if err != nil {
		return nil, err
	}
	defer release()
	keys, _, err := s.cardCerts(ctx, reader.Card.Serial)
	if err != nil {
		return nil, err
	}
	k, r, ok := findRecipient(env, keys)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeKeyNotFound, "the message is not encrypted for any key on card %s", reader.Card.Serial)
	}
	sum := msg.Summarize()
	// The outer headers are the page's; the encrypted content may say
	// something else entirely.
	what := fmt.Sprintf("decrypt an e-mail encrypted for your key %q (%s).\nThe page says it is (not checked by cardbridge):\nSubject %q, from %q.", k.Label, k.Algorithm, sum.Subject, sum.From)
	var out []byte
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) (err error) {
		out, err = env.Open(r, cardOpener{sess, k})
		return err
	})
	if err != nil {
		return nil, err
	}
	// CBC has no MAC: a wrong key or damaged ciphertext passes the
	// padding check about once in 256 tries. What S/MIME encrypts is a
	// MIME entity (RFC 8551, section 3.1), and garbage does not read as one.
	if !isMIMEEntity(out) {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "the message decrypts to something that is not a MIME entity; it is damaged or was not encrypted for this key")
	}
	return protocol.SMIMEResult{Message: out}, nil
}

// isMIMEEntity: header fields, a blank line and a body; an entity may also
// have no fields at all (RFC 2045), and then starts with the blank line.
func isMIMEEntity(b []byte) bool {
	if bytes.HasPrefix(b, []byte("\r\n")) || bytes.HasPrefix(b, []byte("\n")) {
		return true
	}
	_, err := smime.Parse(b)
	return err == nil
}

func findRecipient(env *cms.Envelope, keys []token.KeyInfo) (token.KeyInfo, cms.Recipient, bool) {
	for _, k := range keys {
		if k.Certificate == nil {
			continue
		}
		cert, err := x509.ParseCertificate(k.Certificate)
		if err != nil {
			continue
		}
		for _, r := range env.Recipients {
			if r.Matches(cert) {
				return k, r, true
			}
		}
	}
	return token.KeyInfo{}, cms.Recipient{}, false
}

// cardOpener opens an envelope's key with the card.
type cardOpener struct {
	sess *token.Session
	k    token.KeyInfo
}

func (o cardOpener) DecryptKey(ek []byte, oaep crypto.Hash) ([]byte, error) {
	return o.sess.DecryptRSA(o.k, ek, oaep)
}

func (o cardOpener) ECDH(peer []byte) ([]byte, error) { return o.sess.ECDH(o.k, peer) }
