package rpc

import (
	"errors"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

func code(err error) int {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

func TestConsentCaps(t *testing.T) {
	var d dialogs
	now := time.Now()
	// Per registrable domain.
	for i, want := range []int{0, 0, protocol.CodeBusy} {
		if got := code(d.admit("https://x.example", "evil.example", now)); got != want {
			t.Fatalf("evil.example prompt %d: code %d, want %d", i, got, want)
		}
	}
	d.leave("evil.example")
	if err := d.admit("https://y.example", "evil.example", now); err != nil {
		t.Fatalf("after one left: %v", err)
	}
	// In all: 2 are waiting; 6 more fit, the next does not.
	for i := range maxConsentWaiting - 2 {
		if err := d.admit("https://o.example", string(rune('a'+i))+".example", now); err != nil {
			t.Fatalf("domain %d: %v", i, err)
		}
	}
	if got := code(d.admit("https://z.example", "z.example", now)); got != protocol.CodeBusy {
		t.Fatalf("over the global cap: code %d", got)
	}
}

func TestRefusalsExpire(t *testing.T) {
	var d dialogs
	now := time.Now()
	d.remember("https://a.pest.example", "pest.example", now, refusalMemory)
	d.remember("https://x.example", "x.example", now, timeoutMemory)
	if got := code(d.admit("https://a.pest.example", "pest.example", now.Add(timeoutMemory))); got != protocol.CodeOriginDenied {
		t.Fatalf("a refused origin asking half a minute later: code %d", got)
	}
	if err := d.admit("https://x.example", "x.example", now.Add(timeoutMemory)); err != nil {
		t.Fatalf("an unanswered origin after timeoutMemory: %v", err)
	}
	d.leave("x.example")
	if err := d.admit("https://a.pest.example", "pest.example", now.Add(refusalMemory)); err != nil {
		t.Fatalf("a refused origin after refusalMemory: %v", err)
	}
	d.leave("pest.example")
	// Three refusals in a domain refuse its other origins, for a while.
	d.remember("https://b.pest.example", "pest.example", now.Add(refusalMemory), refusalMemory)
	d.remember("https://c.pest.example", "pest.example", now.Add(refusalMemory), refusalMemory)
	d.remember("https://d.pest.example", "pest.example", now.Add(refusalMemory), refusalMemory)
	if got := code(d.admit("https://e.pest.example", "pest.example", now.Add(refusalMemory+time.Second))); got != protocol.CodeOriginDenied {
		t.Fatalf("a fourth origin of a thrice-refused domain: code %d", got)
	}
	if err := d.admit("https://e.pest.example", "pest.example", now.Add(2*refusalMemory)); err != nil {
		t.Fatalf("after the domain's refusals expired: %v", err)
	}
	// A short memory after a long one does not end the long one early.
	d.remember("https://m.mixed.example", "mixed.example", now, refusalMemory)
	d.remember("https://n.mixed.example", "mixed.example", now, timeoutMemory)
	d.remember("https://o.mixed.example", "mixed.example", now, timeoutMemory)
	d.remember("https://other.example", "other.example", now.Add(timeoutMemory+time.Second), timeoutMemory)
	if got := len(d.byDom["mixed.example"]); got != 1 {
		t.Fatalf("mixed.example has %d standing refusals, want 1", got)
	}
	// Expired entries do not pile up.
	d.remember("https://new.example", "new.example", now.Add(3*refusalMemory), refusalMemory)
	if len(d.refused) != 1 || len(d.byDom) != 1 {
		t.Fatalf("expired refusals kept: %v %v", d.refused, d.byDom)
	}
}
