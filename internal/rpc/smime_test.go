package rpc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/smime"
	"github.com/cardbridge/cardbridge/internal/token"
)

func mailKey(t *testing.T, label, email string, from, to time.Time) token.KeyInfo {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: label},
		EmailAddresses: []string{email}, NotBefore: from, NotAfter: to}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return token.KeyInfo{ID: []byte(label), Label: label, Algorithm: "EC-P256", Public: &key.PublicKey, Certificate: der}
}

func TestPickSigningKeyValidNewestFirst(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	msg, err := smime.Parse([]byte("From: Alice <alice@example.org>\r\nSubject: x\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	expired := mailKey(t, "expired", "alice@example.org", now.Add(-400*day), now.Add(-day))
	older := mailKey(t, "older", "alice@example.org", now.Add(-300*day), now.Add(60*day))
	renewal := mailKey(t, "renewal", "ALICE@example.org", now.Add(-2*day), now.Add(700*day))
	future := mailKey(t, "future", "alice@example.org", now.Add(day), now.Add(800*day))
	other := mailKey(t, "other", "bob@example.org", now.Add(-day), now.Add(day))
	for _, order := range [][]token.KeyInfo{{expired, older, renewal, future, other}, {future, renewal, older, expired}} {
		k, err := pickSigningKey(msg, order, "", now)
		if err != nil || k.Label != "renewal" {
			t.Fatalf("picked %q, %v", k.Label, err)
		}
	}
	_, err = pickSigningKey(msg, []token.KeyInfo{expired, future, other}, "", now)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeKeyNotFound || !strings.Contains(pe.Data.Reason, "expired on 2026-11-26") || !strings.Contains(pe.Data.Reason, "valid only from 2026-11-28") {
		t.Fatalf("no valid certificate: %v", err)
	}
	_, err = pickSigningKey(msg, []token.KeyInfo{other}, "", now)
	if !errors.As(err, &pe) || !strings.Contains(pe.Data.Reason, "no certificate on the card is for alice@example.org") {
		t.Fatalf("none for the address: %v", err)
	}
	// A named key is taken as named, valid or not: the page chose it.
	if k, err := pickSigningKey(msg, []token.KeyInfo{expired, renewal}, expired.IDHex(), now); err != nil || k.Label != "expired" {
		t.Fatalf("keyId: %q, %v", k.Label, err)
	}
}

func TestCurveHash(t *testing.T) {
	for curve, want := range map[elliptic.Curve]crypto.Hash{elliptic.P256(): crypto.SHA256, elliptic.P384(): crypto.SHA384, elliptic.P521(): crypto.SHA512} {
		key, _ := ecdsa.GenerateKey(curve, rand.Reader)
		if got := curveHash(token.KeyInfo{Public: &key.PublicKey}); got != want {
			t.Errorf("%s: %v", curve.Params().Name, got)
		}
	}
}

func TestIsMIMEEntity(t *testing.T) {
	for in, want := range map[string]bool{
		"Content-Type: text/plain\r\n\r\nhi\r\n": true,
		"\r\nno header fields at all\r\n":        true,
		"Content-Type: text/plain\n\nhi\n":       true,
		"\x8f\x01garbage from a wrong key":       false,
		"":                                       false,
	} {
		if got := isMIMEEntity([]byte(in)); got != want {
			t.Errorf("isMIMEEntity(%q) = %v", in, got)
		}
	}
}
