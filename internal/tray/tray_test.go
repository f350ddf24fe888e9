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
}
