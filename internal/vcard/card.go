// Package vcard is a virtual PIV smart card for tests: NIST SP 800-73-4 with
// the YubiKey extensions that yubico-piv-tool, ykcs11 and OpenSC use, behind
// a vpcd reader (vsmartcard) of a real pcscd.
//
// The card connects to the reader's TCP port. Each message is a 2-byte
// big-endian length and a payload; a 1-byte payload is a control code (0x00
// power off, 0x01 power on, 0x02 reset, none answered; 0x04 get ATR),
// anything else a command APDU answered with its response APDU. Closing the
// socket pulls the card. Its keys, certificates, PIN, PUK, management key and
// retry counters live in a state directory, so inserting a card again on the
// same directory puts the same card back.
package vcard

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what kind of card to be.
type Mode int

const (
	// ModePIV is a YubiKey-like PIV card.
	ModePIV Mode = iota
	// ModeUnknown is a card no driver knows: an ATR nobody lists, no
	// application to select (6A82) and no instruction (6D00).
	ModeUnknown
)

// ParseMode reads "piv" or "unknown".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "piv", "":
		return ModePIV, nil
	case "unknown":
		return ModeUnknown, nil
	}
	return 0, fmt.Errorf("vcard: unknown mode %q (want piv or unknown)", s)
}

// Options of a card being inserted.
type Options struct {
	Mode Mode
	// Slow delays every answer, the ATR included.
	Slow time.Duration
	// Serial is the serial of a new card; 0 picks a random one. A card
	// loaded from its state directory keeps its own.
	Serial uint32
	// Pull, when set, is asked before each command APDU is answered; true
	// pulls the card out then, leaving the command unanswered: a card
	// yanked in the middle of an operation.
	Pull func(ins byte) bool
	// Stall, when set, is asked like Pull; true makes the card stop
	// answering, from that command on, while it stays in the reader: a
	// card (or a reader) that hangs, until Remove.
	Stall func(ins byte) bool
	// Logf, when set, gets one line per APDU: instruction and status word,
	// never the data.
	Logf func(format string, args ...any)
}

// atrYubiKey is a YubiKey 5 NFC's ATR (T=1, historical bytes "YubiKey"):
// OpenSC and libykpiv recognise the card by it.
var atrYubiKey = []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0,
	0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}

// atrUnknown is a T=1 ATR with made-up historical bytes "cbx-unknown" that
// no driver lists; the last byte is the check byte T=1 requires.
var atrUnknown = withTCK([]byte{0x3B, 0x8B, 0x80, 0x01, 'c', 'b', 'x', '-', 'u', 'n', 'k', 'n', 'o', 'w', 'n'})

func withTCK(atr []byte) []byte {
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	return append(atr, x)
}

// Card is a card in a vpcd reader.
type Card struct {
	conn   net.Conn
	applet *applet
	atr    []byte
	slow   time.Duration
	pull   func(ins byte) bool
	stall  func(ins byte) bool
	stop   chan struct{} // closed by Remove: ends a --slow wait at once
	serial uint32
	done   chan struct{}
	seen   chan struct{} // closed at the reader's first ATR request after power on
	on     bool
	seenOn sync.Once
	once   sync.Once
	pulled atomic.Bool // Remove was called
	err    error
}

// Insert loads (or creates) the card in stateDir and puts it into the vpcd
// reader at addr, waiting for the reader to listen until ctx ends.
func Insert(ctx context.Context, addr, stateDir string, opts Options) (*Card, error) {
	st, err := loadState(stateDir, opts.Serial)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var conn net.Conn
	for {
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vcard: insert into vpcd %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	c := &Card{conn: conn, atr: atrYubiKey, slow: opts.Slow, pull: opts.Pull, stall: opts.Stall, serial: st.Serial,
		stop: make(chan struct{}),
		done: make(chan struct{}), seen: make(chan struct{})}
	c.applet = &applet{st: st, unknown: opts.Mode == ModeUnknown, logf: opts.Logf}
	if opts.Mode == ModeUnknown {
		c.atr = atrUnknown
	}
	go c.serve()
	return c, nil
}

// Serial is the card's serial number (Yubico GET SERIAL).
func (c *Card) Serial() uint32 { return c.serial }

// Done is closed when the card is out: removed, or the reader went away.
func (c *Card) Done() <-chan struct{} { return c.done }

// Seen is closed once the reader has powered the card up and read its ATR:
// pcscd noticed the card (it polls about every 400 ms) and is about to tell
// its clients.
func (c *Card) Seen() <-chan struct{} { return c.seen }

// Err waits until the card is out and says why; nil after Remove.
func (c *Card) Err() error {
	<-c.done
	return c.err
}

// Remove pulls the card out of the reader and waits until it is out. pcscd
// notices at its next poll (every 400 ms); a card put into the same reader
// before that takes this one's place unnoticed (pcsctest.Remove waits).
func (c *Card) Remove() {
	c.pullOut()
	<-c.done
}

func (c *Card) pullOut() {
	c.once.Do(func() {
		c.pulled.Store(true)
		close(c.stop)
		c.conn.Close()
	})
}

func (c *Card) serve() {
	defer close(c.done)
	defer c.conn.Close()
	for {
		msg, err := c.read()
		if err != nil {
			if !c.pulled.Load() {
				c.err = fmt.Errorf("vcard: vpcd closed the connection: %w", err)
			}
			return
		}
		if len(msg) > 1 && c.pull != nil && c.pull(msg[1]) {
			c.pullOut()
			return
		}
		if len(msg) > 1 && c.stall != nil && c.stall(msg[1]) {
			<-c.stop
			return
		}
		out := c.answer(msg)
		if out == nil {
			continue
		}
		if c.slow > 0 {
			select {
			case <-time.After(c.slow):
			case <-c.stop:
				return
			}
		}
		if err := c.write(out); err != nil {
			if !c.pulled.Load() {
				c.err = fmt.Errorf("vcard: write to vpcd: %w", err)
			}
			return
		}
	}
}

// answer handles one message; nil means no reply.
func (c *Card) answer(msg []byte) []byte {
	if len(msg) != 1 {
		return c.applet.process(msg)
	}
	switch msg[0] {
	case 0x00, 0x01, 0x02: // power off, power on, reset
		c.on = msg[0] == 0x01
		c.applet.selected = false
		c.applet.resetStatus()
		return nil
	case 0x04:
		if c.on {
			c.seenOn.Do(func() { close(c.seen) })
		}
		return c.atr
	}
	return nil
}

func (c *Card) read() ([]byte, error) {
	var hdr [2]byte
	quickAck(c.conn)
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	quickAck(c.conn)
	if _, err := io.ReadFull(c.conn, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func (c *Card) write(b []byte) error {
	if len(b) > 0xFFFF {
		b = sw(nil, swUnknown)
	}
	out := make([]byte, 2, 2+len(b))
	binary.BigEndian.PutUint16(out, uint16(len(b)))
	_, err := c.conn.Write(append(out, b...))
	return err
}
