package rpc

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/cardbridge/cardbridge/internal/csr"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/token"
	"go.uber.org/zap"
)

func (s *Service) systemInfo(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	if err := protocol.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	return protocol.SystemInfo{Name: "cardbridge", Version: s.cfg.Version, Protocol: protocol.Version, Methods: Methods()}, nil
}

func (s *Service) cardsList(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	if err := protocol.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	return CardsList(s.cfg.Tokens), nil
}

// CardsList is the wire form of what the token layer sees. The tray and
// cards.changed events use it too.
func CardsList(m *token.Manager) protocol.CardsList {
	out := protocol.CardsList{Readers: []protocol.Reader{}}
	for _, r := range m.Readers() {
		pr := protocol.Reader{Name: r.Name, Module: r.Module, Status: string(r.Status)}
		if c := r.Card; c != nil {
			pr.Card = &protocol.Card{
				Serial: c.Serial, TokenSerial: c.TokenSerial, Label: c.Label, Manufacturer: c.Manufacturer, Model: c.Model,
				PIN:        protocol.PINState(c.PIN),
				Algorithms: append([]string{}, c.Algorithms...),
				FixedSlots: c.FixedSlots,
			}
		}
		out.Readers = append(out.Readers, pr)
	}
	return out
}

func (s *Service) keysList(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.CardParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	keys, err := s.cfg.Tokens.Keys(ctx, p.Card)
	if err != nil {
		return nil, err
	}
	out := protocol.KeysList{Keys: []protocol.Key{}}
	room := listRoom
	for _, k := range keys {
		pk := protocol.Key{KeyID: k.IDHex(), Label: Truncate(k.Label, 4*maxLabel), Algorithm: k.Algorithm, PublicKey: k.SPKI, Certificate: k.Certificate, Unusable: Truncate(k.Unusable, 4*maxLabel), AlwaysAuthenticate: k.AlwaysAuthenticate}
		if len(pk.Certificate) > maxCertSize {
			pk.Certificate = nil // junk from elsewhere; the key is still listed
		}
		if len(pk.PublicKey) > maxCertSize || len(pk.KeyID) > 2*255 {
			continue
		}
		if room -= keyListSize(pk); room < 0 {
			s.cfg.Log.Warn("keys.list: the card holds more keys than one answer carries", zap.Int("listed", len(out.Keys)), zap.Int("stored", len(keys)))
			break
		}
		out.Keys = append(out.Keys, pk)
	}
	return out, nil
}

// listRoom is what the items of one list answer may take, below
// protocol.MaxFrame by room for the envelope. Items are counted at their
// largest JSON size (base64 and \u escapes), so an answer always fits:
// a card with more on it is listed in part, never not at all.
const listRoom = protocol.MaxFrame - 4096

// jsonSize bounds the JSON size of a string (every byte escaped as \u00XX)
// or of bytes (base64).
func jsonSize(s string) int { return 6*len(s) + 2 }
func b64Size(b []byte) int  { return 4*(len(b)+2)/3 + 2 }

func keyListSize(k protocol.Key) int {
	return 128 + jsonSize(k.KeyID) + jsonSize(k.Label) + jsonSize(k.Algorithm) + b64Size(k.PublicKey) + b64Size(k.Certificate)
}

func certListSize(c *x509.Certificate) int {
	n := 256 + b64Size(c.Raw) + jsonSize(c.Subject.String()) + jsonSize(c.Issuer.String()) + 2*len(c.SerialNumber.Bytes()) + 64
	for _, e := range csr.Emails(c) {
		n += jsonSize(e) + 1
	}
	return n
}

// checkLabel refuses labels that would confuse a person reading them in a
// dialog or another program.
func checkLabel(label string) error {
	if len(label) > 64 {
		return protocol.Errorf(protocol.CodeInvalidParams, "label is longer than 64 bytes")
	}
	if strings.IndexFunc(label, unicode.IsControl) >= 0 {
		return protocol.Errorf(protocol.CodeInvalidParams, "label contains control characters")
	}
	return nil
}

func (s *Service) keysGenerate(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.KeysGenerateParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	alg, err := token.ParseKeyAlgorithm(p.Algorithm)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "unknown key algorithm %q; use one of the card's algorithms from cards.list", Truncate(p.Algorithm, 32))
	}
	if err := checkLabel(p.Label); err != nil {
		return nil, err
	}
	if p.Label == "" {
		p.Label = "cardbridge " + alg.Name
	}
	var req csr.Request
	if p.CSR != nil {
		req = csrRequest(*p.CSR)
		if err := req.Check(); err != nil {
			return nil, err
		}
	}
	reader, release, err := s.claimCard(c, p.Card)
	if err != nil {
		return nil, err
	}
	defer release()
	if !slices.Contains(reader.Card.Algorithms, alg.Name) {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "card %s cannot generate %s keys", reader.Card.Serial, alg.Name)
	}
	opts := token.GenerateOptions{Purpose: p.Purpose, Replace: p.Replace}
	slot, known := token.PIVSlot(p.Purpose)
	if !known {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "unknown purpose %q; use authenticate, sign or decrypt", Truncate(p.Purpose, 32))
	}
	where := "on your card"
	if reader.Card.FixedSlots && !p.Replace {
		// Refused before any dialog; the card checks again in the session.
		if full, err := s.cfg.Tokens.SlotInUse(ctx, reader.Card.Serial, p.Purpose); err != nil {
			return nil, err
		} else if full {
			return nil, protocol.Errorf(protocol.CodeSlotOccupied, "slot %s of card %s already holds a key; ask with replace to replace it", slot, reader.Card.Serial)
		}
	}
	if reader.Card.FixedSlots {
		where = fmt.Sprintf("in slot %s of your card", slot)
		if p.Replace {
			where += ", replacing the key that is there now"
		}
	} else {
		slot = ""
	}
	what := fmt.Sprintf("create a new %s key pair named %q %s.", alg.Name, p.Label, where)
	if p.CSR != nil {
		what = fmt.Sprintf("create a new %s key pair named %q %s, and a certificate request for %s.", alg.Name, p.Label, where, describeSubject(req))
	}
	what += "\nThis can take a while; do not remove the card."
	var k token.KeyInfo
	var pemCSR []byte
	err = s.withPIN(s.managementKey(ctx, c, reader), c, reader.Card.Serial, what, func(sess *token.Session) error {
		if k, err = sess.GenerateKey(alg, p.Label, opts); err != nil {
			return err
		}
		if p.CSR == nil {
			return nil
		}
		// One PIN for both steps, as the Certum window does. A request
		// that cannot be made takes its fresh key with it.
		if pemCSR, err = csr.Create(sess.Signer(k), req); err != nil {
			if derr := sess.DeleteKey(k.ID); derr != nil {
				s.cfg.Log.Warn("could not remove a key whose request failed", zap.String("key_id", k.IDHex()), zap.Error(derr))
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return protocol.KeysGenerateResult{KeyID: k.IDHex(), Algorithm: k.Algorithm, PublicKey: k.SPKI, CSR: string(pemCSR), Slot: slot}, nil
}

func (s *Service) sign(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	var p protocol.SignParams
	if err := protocol.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	switch p.Format {
	case "cms":
		return s.signCMS(ctx, c, p)
	case "", "raw":
	default:
		return nil, protocol.Errorf(protocol.CodeInvalidParams, `format must be "raw" or "cms"`)
	}
	if p.Attached || p.DigestAlgorithm != "" {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, `attached and digestAlgorithm go with format "cms"`)
	}
	alg, err := token.ParseSignAlgorithm(p.Algorithm)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "unknown signature algorithm %q", Truncate(p.Algorithm, 32))
	}
	digests, batch, err := signInputs(p, alg)
	if err != nil {
		return nil, err
	}
	reader, k, release, err := s.claimKey(ctx, c, p.Card, p.KeyID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := token.CheckKeyFits(k, alg); err != nil {
		return nil, err
	}
	if err := s.cfg.Tokens.CheckMechanism(reader.Card.Serial, alg); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("sign 1 document with your key %q (%s).", k.Label, alg.Name)
	if len(digests) > 1 {
		what = fmt.Sprintf("sign %d documents with your key %q (%s).", len(digests), k.Label, alg.Name)
		if k.AlwaysAuthenticate {
			what += fmt.Sprintf("\nThis key asks for the PIN before every signature: the PIN you type here is presented to the card for each of the %d signatures (on a reader with a PIN pad, the reader asks each time).", len(digests))
		}
	}
	var sigs [][]byte
	err = s.withPIN(ctx, c, reader.Card.Serial, what, func(sess *token.Session) error {
		sigs, err = sess.Sign(k, alg, digests)
		return err
	})
	if err != nil {
		return nil, err
	}
	return signResult(sigs, batch), nil
}

// signResult answers a batch with signatures, anything else with one
// signature.
func signResult(sigs [][]byte, batch bool) protocol.SignResult {
	if batch {
		return protocol.SignResult{Signatures: sigs}
	}
	return protocol.SignResult{Signature: sigs[0]}
}

// signInputs checks the three ways of giving what to sign and returns the
// digests, hashing data here when that was given.
func signInputs(p protocol.SignParams, alg token.SignAlgorithm) (digests [][]byte, batch bool, err error) {
	n := 0
	for _, given := range []bool{p.Digest != nil, p.Digests != nil, p.Data != nil} {
		if given {
			n++
		}
	}
	if n != 1 {
		return nil, false, protocol.Errorf(protocol.CodeInvalidParams, "give exactly one of digest, digests and data")
	}
	switch {
	case p.Data != nil:
		h := alg.Hash.New()
		h.Write(p.Data)
		return [][]byte{h.Sum(nil)}, false, nil
	case p.Digest != nil:
		digests = [][]byte{p.Digest}
	default:
		if len(p.Digests) == 0 || len(p.Digests) > protocol.MaxBatch {
			return nil, false, protocol.Errorf(protocol.CodeInvalidParams, "digests must hold 1 to %d digests", protocol.MaxBatch)
		}
		digests, batch = p.Digests, true
	}
	for i, d := range digests {
		if len(d) != alg.Hash.Size() {
			return nil, false, protocol.Errorf(protocol.CodeInvalidParams, "digest %d is %d bytes; %s needs %d", i, len(d), alg.Name, alg.Hash.Size())
		}
	}
	return digests, batch, nil
}

// findKey resolves a card and a key on it without asking for a PIN, so that
// a missing key is reported before any dialog opens.
func (s *Service) findKey(ctx context.Context, card, keyID string) (token.Reader, token.KeyInfo, error) {
	id, err := hex.DecodeString(keyID)
	if err != nil || len(id) == 0 || len(id) > 255 {
		return token.Reader{}, token.KeyInfo{}, protocol.Errorf(protocol.CodeInvalidParams, "keyId must be the key's CKA_ID in hex")
	}
	reader, err := s.cfg.Tokens.CardInfo(card)
	if err != nil {
		return token.Reader{}, token.KeyInfo{}, err
	}
	k, err := s.cfg.Tokens.Key(ctx, reader.Card.Serial, id)
	return reader, k, err
}
