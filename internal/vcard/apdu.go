package vcard

import "fmt"

// Status words the card answers with (ISO 7816-4, SP 800-73-4).
const (
	swOK              = 0x9000
	swWrongLength     = 0x6700
	swSecurity        = 0x6982 // security status not satisfied
	swBlocked         = 0x6983 // authentication method blocked
	swConditions      = 0x6985
	swIncorrectData   = 0x6A80
	swFuncUnsupported = 0x6A81
	swNotFound        = 0x6A82
	swWrongP1P2       = 0x6A86
	swRefNotFound     = 0x6A88
	swINSUnsupported  = 0x6D00
	swCLAUnsupported  = 0x6E00
	swUnknown         = 0x6F00
	swTriesLeft       = 0x63C0 // | tries left
	swMoreData        = 0x6100 // | bytes waiting for GET RESPONSE
)

// maxChain bounds the data collected over chained commands.
const maxChain = 1 << 16

// command is one parsed command APDU.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	ext              bool // extended length: the answer goes out whole
}

// parseAPDU parses the four ISO 7816-4 cases, short and extended.
func parseAPDU(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, fmt.Errorf("apdu of %d bytes", len(b))
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) <= 1: // case 1, case 2 short
		return c, nil
	case body[0] != 0: // case 3/4 short
		lc := int(body[0])
		if len(body) != 1+lc && len(body) != 2+lc {
			return command{}, fmt.Errorf("lc %d with %d bytes", lc, len(body))
		}
		c.data = body[1 : 1+lc]
		return c, nil
	case len(body) == 3: // case 2 extended
		c.ext = true
		return c, nil
	case len(body) > 3: // case 3/4 extended
		lc := int(body[1])<<8 | int(body[2])
		if lc == 0 || (len(body) != 3+lc && len(body) != 5+lc) {
			return command{}, fmt.Errorf("extended lc %d with %d bytes", lc, len(body))
		}
		c.data, c.ext = body[3:3+lc], true
		return c, nil
	}
	return command{}, fmt.Errorf("apdu body of %d bytes", len(body))
}

// process answers one command APDU: it parses, joins chained commands,
// hands the command to the applet and cuts long answers into 61xx chunks.
func (a *applet) process(raw []byte) []byte {
	c, err := parseAPDU(raw)
	if err != nil {
		a.chain, a.pending = nil, nil
		return sw(nil, swWrongLength)
	}
	if c.cla&^0x10 != 0 {
		return sw(nil, swCLAUnsupported)
	}
	if c.ins == 0xC0 && c.cla == 0 { // GET RESPONSE
		if a.pending == nil {
			return sw(nil, swConditions)
		}
		rest := a.pending
		a.pending = nil
		return a.respond(rest, swOK, c.ext)
	}
	a.pending = nil
	if c.cla&0x10 != 0 { // command chaining: collect, answer 9000
		if a.chain == nil || a.chain.ins != c.ins || a.chain.p1 != c.p1 || a.chain.p2 != c.p2 {
			a.chain = &command{ins: c.ins, p1: c.p1, p2: c.p2}
		}
		if len(a.chain.data)+len(c.data) > maxChain {
			a.chain = nil
			return sw(nil, swWrongLength)
		}
		a.chain.data = append(a.chain.data, c.data...)
		return sw(nil, swOK)
	}
	if ch := a.chain; ch != nil {
		a.chain = nil
		if ch.ins == c.ins && ch.p1 == c.p1 && ch.p2 == c.p2 {
			c.data = append(ch.data, c.data...)
		}
	}
	data, status := a.handle(c)
	if a.logf != nil {
		a.logf("vcard: ins %02X p1 %02X p2 %02X: %d bytes in, %d bytes out, sw %04X", c.ins, c.p1, c.p2, len(c.data), len(data), status)
	}
	return a.respond(data, status, c.ext)
}

// respond sends data whole on an extended command, else 256 bytes at a time
// with 61xx saying how much is waiting.
func (a *applet) respond(data []byte, status uint16, ext bool) []byte {
	if ext || len(data) <= 256 || status != swOK {
		return sw(data, status)
	}
	a.pending = data[256:]
	left := len(a.pending)
	if left > 255 {
		left = 0 // 6100: 256 or more
	}
	return sw(data[:256], swMoreData|uint16(left))
}

func sw(data []byte, status uint16) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, byte(status>>8), byte(status))
}

// handle dispatches one whole command to its instruction.
func (a *applet) handle(c command) ([]byte, uint16) {
	if a.unknown {
		// A card no driver knows: it has no PIV (or any) application.
		if c.ins == 0xA4 {
			return nil, swNotFound
		}
		return nil, swINSUnsupported
	}
	if c.ins == 0xA4 {
		return a.selectApp(c)
	}
	if !a.selected {
		return nil, swINSUnsupported
	}
	switch c.ins {
	case 0xCB:
		return a.getData(c)
	case 0xDB:
		return a.putData(c)
	case 0x20:
		return a.verify(c)
	case 0x24:
		return a.changeRef(c)
	case 0x2C:
		return a.resetRetry(c)
	case 0x87:
		return a.generalAuth(c)
	case 0x47:
		return a.generate(c)
	case 0xFD: // Yubico GET VERSION
		return version[:], swOK
	case 0xF8: // Yubico GET SERIAL
		s := a.st.Serial
		return []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}, swOK
	case 0xF7:
		return a.metadata(c)
	case 0xFF:
		return a.setMgmtKey(c)
	case 0xFE:
		return a.importKey(c)
	case 0xFB:
		return a.resetCard(c)
	case 0xFA:
		return a.setRetries(c)
	}
	return nil, swINSUnsupported
}
