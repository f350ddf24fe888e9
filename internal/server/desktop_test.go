package server

import (
	"context"
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/sites"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
)

func queue(t *testing.T, lines ...string) {
	t.Helper()
	q := filepath.Join(t.TempDir(), "answers")
	b := []byte{}
	for _, l := range lines {
		b = append(b, l+"\n"...)
	}
	os.WriteFile(q, b, 0o600)
	t.Setenv("CB_TEST_PIN_QUEUE", q)
}

func TestPINChange(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	sign := map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}

	queue(t, "pin 000000", "pin 654321")
	err := c.call("pin.change", nil, nil)
	wantCode(t, err, protocol.CodePINIncorrect)
	queue(t, "pin "+softhsmtest.PIN, "pin 12")
	wantCode(t, c.call("pin.change", nil, nil), protocol.CodePINIncorrect) // too short, refused before the card

	queue(t, "pin "+softhsmtest.PIN, "pin 654321")
	c.mustCall("pin.change", map[string]any{"card": d.tok.Serial}, nil)
	t.Setenv("CB_TEST_PIN_QUEUE", "")
	t.Setenv("CB_TEST_PIN", "654321")
	c.mustCall("sign", sign, nil)
	t.Setenv("CB_TEST_PIN", softhsmtest.PIN)
	wantCode(t, c.call("sign", sign, nil), protocol.CodePINIncorrect)
	if p := d.prompts()[1]; !strings.Contains(p, "change the PIN") || !strings.Contains(p, portal) {
		t.Fatalf("prompt = %q", p)
	}
}

func TestPINUnblock(t *testing.T) {
	locked := false
	d := startDaemon(t, daemonOpts{loginFault: func(string) uint {
		if locked {
			return token.CKRPINLocked
		}
		return 0
	}})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	sign := map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}
	// Wrong tries: SoftHSM2 counts them (count low) but never locks, so
	// the lock itself comes from the fault seam at C_Login.
	t.Setenv("CB_TEST_PIN", "999999")
	for i := 0; i < 3; i++ {
		wantCode(t, c.call("sign", sign, nil), protocol.CodePINIncorrect)
	}
	locked = true
	t.Setenv("CB_TEST_PIN", softhsmtest.PIN)
	wantCode(t, c.call("sign", sign, nil), protocol.CodePINLocked)

	queue(t, "pin 87654321", "pin 111111")
	wantCode(t, c.call("pin.unblock", nil, nil), protocol.CodePINIncorrect) // wrong PUK
	queue(t, "pin "+softhsmtest.SOPIN, "pin 111111")
	c.mustCall("pin.unblock", nil, nil)
	locked = false // what C_InitPIN does to a real card's lock
	t.Setenv("CB_TEST_PIN_QUEUE", "")
	t.Setenv("CB_TEST_PIN", "111111")
	c.mustCall("sign", sign, nil)
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	if cards.Readers[0].Card.PIN.CountLow {
		t.Fatal("count low not cleared by the new PIN")
	}
}

func TestPolicyOverridesUserChoices(t *testing.T) {
	policy := &sites.Policy{AllowedOrigins: []string{"https://corp.example"}, BlockOtherOrigins: true}
	d := startDaemon(t, daemonOpts{policy: policy})
	// The user allowed portal.example (with --allow-origin in startDaemon)
	// and mine.example (in sites.json), but the policy blocks them.
	st, _ := sites.Open(d.confDir, nil, nil)
	st.Allow("https://mine.example")
	for _, o := range []string{portal, "https://mine.example", "https://new.example"} {
		c := d.dial(o)
		wantCode(t, c.call("cards.list", nil, nil), protocol.CodeOriginDenied)
	}
	if len(d.prompts()) != 0 {
		t.Fatal("a blocked origin was asked about")
	}
	d.dial("https://corp.example").mustCall("cards.list", nil, nil)
}

func TestCardsChangedEvents(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.svc.Watch(ctx, 100*time.Millisecond, nil)
	c := d.dial(portal)
	var first protocol.CardsList
	c.mustCall("events.subscribe", nil, &first)
	if len(first.Readers) != 1 {
		t.Fatalf("subscribe = %+v", first)
	}
	tok2, err := softhsm.Create(filepath.Dir(d.tok.Conf), "inserted", softhsmtest.PIN, softhsmtest.SOPIN)
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(want func(protocol.CardsList) bool) {
		t.Helper()
		for {
			r := c.read()
			if r.Method != "cards.changed" {
				continue
			}
			var params protocol.CardsList
			raw, _ := json.Marshal(r.Params)
			json.Unmarshal(raw, &params)
			if want(params) {
				return
			}
		}
	}
	has := func(serial string) func(protocol.CardsList) bool {
		return func(l protocol.CardsList) bool {
			for _, r := range l.Readers {
				if r.Card != nil && r.Card.Serial == serial {
					return true
				}
			}
			return false
		}
	}
	waitFor(has(tok2.Serial))
	softhsm.Delete(d.tok.Conf, tok2.Serial)
	waitFor(func(l protocol.CardsList) bool { return !has(tok2.Serial)(l) })
}
