package server

import (
	"crypto"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/vcard"
)

// TestPIVStuckCard: a card that stops answering in the middle of a
// signature holds up only itself. Its request gives up with
// card_not_answering after the operation timeout while other cards and
// other requests go on at their usual pace; once the card is taken out and
// put back, it works again.
func TestPIVStuckCard(t *testing.T) {
	var armed atomic.Bool
	b := startPIVWith(t, vcard.Options{Stall: func(ins byte) bool { return ins == 0x87 && armed.Load() }},
		daemonOpts{opTimeout: 3 * time.Second})
	c := b.d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.serial, "algorithm": "EC-P256"}, &gen)
	var soft protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"card": b.d.tok.Serial, "algorithm": "EC-P256"}, &soft)
	sign := func(c *client, serial, key string) *protocol.Error {
		return c.call("sign", map[string]any{"card": serial, "keyId": key, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	}
	armed.Store(true)
	stuck := make(chan *protocol.Error, 1)
	start := time.Now()
	go func() { stuck <- sign(c, b.serial, gen.KeyID) }()
	time.Sleep(500 * time.Millisecond)
	// Meanwhile, from another site's connection: the daemon answers, and
	// the other card signs.
	if err := b.d.svc.Sites().Allow("https://other.example"); err != nil {
		t.Fatal(err)
	}
	other := b.d.dial("https://other.example")
	t0 := time.Now()
	other.mustCall("system.info", nil, nil)
	if err := sign(other, b.d.tok.Serial, soft.KeyID); err != nil {
		t.Fatalf("the other card while one is stuck: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("the other card took %v while one was stuck", d)
	}
	err := <-stuck
	wantCode(t, err, protocol.CodeCardNotAnswering)
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("the stuck request answered after %v", d)
	}
	// The card is taken out and put back: it works again.
	armed.Store(false)
	b.card.Remove()
	b.card = b.pcsc.Insert(t, 0, b.state, vcard.Options{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := sign(c, b.serial, gen.KeyID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after re-insertion: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
