package tray

import (
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

func TestIconStateAndLines(t *testing.T) {
	card := &protocol.Card{Serial: "1625834976919804"}
	low := &protocol.Card{Serial: "1", PIN: protocol.PINState{CountLow: true}}
	tests := []struct {
		s    State
		want string
	}{
		{State{}, StateNoCard},
		{State{Readers: []protocol.Reader{{Name: "r"}}}, StateNoCard},
		{State{Readers: []protocol.Reader{{Name: "r", Card: card}}}, StateReady},
		{State{Readers: []protocol.Reader{{Name: "r", Card: card}}, Busy: true}, StateBusy},
		{State{Readers: []protocol.Reader{{Name: "r", Card: low}}, Busy: true}, StateAttention},
		{State{Readers: []protocol.Reader{{Name: "r", Card: card}}, Expiring: []Expiring{{NotAfter: time.Now()}}}, StateAttention},
	}
	for _, tt := range tests {
		if got := IconState(tt.s); got != tt.want {
			t.Errorf("IconState(%+v) = %s, want %s", tt.s, got, tt.want)
		}
	}
	if got := ReaderLine(protocol.Reader{Name: "ACS ACR39U", Card: card}); got != "ACS ACR39U: card 1625 8349 7691 9804, ready" {
		t.Errorf("line = %q", got)
	}
	if got := ReaderLine(protocol.Reader{Name: "ACS ACR39U"}); got != "ACS ACR39U: no card" {
		t.Errorf("line = %q", got)
	}
	if got := ReaderLine(protocol.Reader{Name: "x", Card: &protocol.Card{Serial: "1", PIN: protocol.PINState{Locked: true}}}); got != "x: card 1, PIN locked" {
		t.Errorf("line = %q", got)
	}
	if got := ReaderLine(protocol.Reader{Name: "Slow Reader", Status: protocol.ReaderNotAnswering}); got != "reader Slow Reader is not answering" {
		t.Errorf("line = %q", got)
	}
	if got := ReaderLine(protocol.Reader{Name: "Odd Reader", Status: protocol.ReaderUnsupported}); got != "card in reader Odd Reader is not supported" {
		t.Errorf("line = %q", got)
	}
}

// TestShape checks what rebuilds the menu: the number of readers, which
// hold a card, the expiry lines and the sites; nothing else does, so that
// a refresh with the same content sends the panel nothing. No count is
// capped: 40 readers and 100 sites each get their lines.
func TestShape(t *testing.T) {
	card := &protocol.Card{Serial: "1"}
	readers := func(cards ...bool) []protocol.Reader {
		var rs []protocol.Reader
		for _, c := range cards {
			r := protocol.Reader{Name: "r"}
			if c {
				r.Card = card
			}
			rs = append(rs, r)
		}
		return rs
	}
	base := shapeOf(State{Readers: readers(true, false)}, 2)
	for _, tt := range []struct {
		name string
		s    State
		n    int
		same bool
	}{
		{"same", State{Readers: readers(true, false), Busy: true}, 2, true},
		{"card moved", State{Readers: readers(false, true)}, 2, false},
		{"reader added", State{Readers: readers(true, false, false)}, 2, false},
		{"site added", State{Readers: readers(true, false)}, 3, false},
		{"expiring", State{Readers: readers(true, false), Expiring: []Expiring{{}}}, 2, false},
	} {
		if got := shapeOf(tt.s, tt.n).equal(base); got != tt.same {
			t.Errorf("%s: equal = %v", tt.name, got)
		}
	}
	if sh := shapeOf(State{}, 0); len(sh.cards) != 1 {
		t.Errorf("no reader: %d lines, want the one that says so", len(sh.cards))
	}
	many := make([]bool, 40)
	if sh := shapeOf(State{Readers: readers(many...)}, 100); len(sh.cards) != 40 || sh.sites != 100 {
		t.Errorf("shape capped: %+v", sh)
	}
}
