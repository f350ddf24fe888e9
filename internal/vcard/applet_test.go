package vcard

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"testing"
)

// card is an applet in memory (no state dir), for tests of single APDUs.
type card struct {
	t *testing.T
	a *applet
}

func newCard(t testing.TB) *card {
	st, err := newState("", 12345678)
	if err != nil {
		t.Fatal(err)
	}
	c := &card{a: &applet{st: st}}
	if tt, ok := t.(*testing.T); ok {
		c.t = tt
	}
	return c
}

// tx sends an APDU given in hex (plus data) and returns data and status.
func (c *card) tx(header string, data []byte) ([]byte, uint16) {
	h, err := hex.DecodeString(header)
	if err != nil {
		panic(err)
	}
	apdu := h
	if data != nil {
		apdu = append(append(h, byte(len(data))), data...)
	}
	out := c.a.process(apdu)
	return out[:len(out)-2], uint16(out[len(out)-2])<<8 | uint16(out[len(out)-1])
}

// want fails unless the APDU answers status.
func (c *card) want(status uint16, header string, data []byte) []byte {
	c.t.Helper()
	out, st := c.tx(header, data)
	if st != status {
		c.t.Fatalf("%s %x: sw %04X, want %04X", header, data, st, status)
	}
	return out
}

func (c *card) selectPIV() { c.want(swOK, "00A40400", pivAID[:5]) }

func pin(s string) []byte { return append([]byte(s), bytes.Repeat([]byte{0xFF}, 8-len(s))...) }

// authMgmt runs mutual authentication with the 3DES key k.
func (c *card) authMgmt(k []byte) uint16 {
	c.t.Helper()
	block, err := des.NewTripleDESCipher(k)
	if err != nil {
		c.t.Fatal(err)
	}
	out := c.want(swOK, "0087039B", []byte{0x7C, 0x02, 0x80, 0x00})
	witness := make([]byte, 8)
	block.Decrypt(witness, out[4:12])
	chal := []byte("8 bytes!")
	resp, st := c.tx("0087039B", append(append([]byte{0x7C, 0x14, 0x80, 0x08}, witness...), append([]byte{0x81, 0x08}, chal...)...))
	if st == swOK {
		want := make([]byte, 8)
		block.Encrypt(want, chal)
		if !bytes.Equal(resp[4:], want) {
			c.t.Fatal("card answered the challenge wrong")
		}
	}
	return st
}

func defaultMgmt() []byte {
	k, _ := hex.DecodeString(DefaultMgmtKey)
	return k
}

// generate makes a key in slot and returns the 7F49 answer.
func (c *card) generate(slot string, alg byte) []byte {
	c.t.Helper()
	out := c.want(swOK, "004700"+slot, []byte{0xAC, 0x03, 0x80, 0x01, alg})
	return out
}

func sign(digest []byte) []byte {
	return append([]byte{0x7C, byte(4 + len(digest)), 0x82, 0x00, 0x81, byte(len(digest))}, digest...)
}

func TestPINPolicies(t *testing.T) {
	c := newCard(t)
	c.selectPIV()
	if st := c.authMgmt(defaultMgmt()); st != swOK {
		t.Fatalf("management key: %04X", st)
	}
	c.generate("9A", algP256)
	c.generate("9C", algP256)
	c.generate("9E", algP256)
	digest := bytes.Repeat([]byte{7}, 32)
	c.want(swSecurity, "0087119A", sign(digest))
	c.want(swOK, "0087119E", sign(digest)) // card authentication: no PIN
	c.want(swOK, "00200080", pin(DefaultPIN))
	c.want(swOK, "0087119A", sign(digest))
	c.want(swOK, "0087119A", sign(digest))
	out := c.want(swOK, "0087119C", sign(digest))
	c.want(swSecurity, "0087119C", sign(digest)) // "always": spent
	c.want(swOK, "0087119A", sign(digest))       // 9A still verified
	c.want(swOK, "00200080", pin(DefaultPIN))
	c.want(swOK, "0087119C", sign(digest))

	k, _ := x509.ParsePKCS8PrivateKey(c.a.st.Keys["9c"].PKCS8)
	if !ecdsa.VerifyASN1(&k.(*ecdsa.PrivateKey).PublicKey, digest, out[4:]) {
		t.Fatal("9C signature does not verify")
	}
	c.selectPIV() // SELECT drops the PIN
	c.want(swSecurity, "0087119A", sign(digest))
}

func TestPINCounters(t *testing.T) {
	c := newCard(t)
	c.selectPIV()
	c.want(swTriesLeft|3, "00200080", nil)
	c.want(swTriesLeft|2, "00200080", pin("000000"))
	c.want(swOK, "00200080", pin(DefaultPIN)) // a right PIN resets the counter
	c.want(swOK, "00200080", nil)
	c.want(swOK, "0020FF80", nil) // log out
	c.want(swTriesLeft|3, "00200080", nil)
	c.want(swIncorrectData, "00200080", []byte("123456"))
	for left := 2; left >= 0; left-- {
		c.want(swTriesLeft|uint16(left), "00200080", pin("000000"))
	}
	c.want(swBlocked, "00200080", pin(DefaultPIN))
	c.want(swBlocked, "00200080", nil)
	c.want(swConditions, "00FB0000", nil) // RESET only with PIN and PUK blocked
	c.want(swTriesLeft|2, "002C0080", append(pin("00000000"), pin("654321")...))
	c.want(swOK, "002C0080", append(pin(DefaultPUK), pin("654321")...))
	c.want(swOK, "00200080", pin("654321"))
	c.want(swTriesLeft|2, "00240080", append(pin("000000"), pin("111111")...))
	c.want(swOK, "00240080", append(pin("654321"), pin("111111")...))
	c.want(swOK, "00200080", pin("111111"))
	for left := 2; left >= 0; left-- {
		c.want(swTriesLeft|uint16(left), "00240081", append(pin("00000000"), pin("11111111")...))
		c.want(swTriesLeft|uint16(left), "00200080", pin("000000"))
	}
	c.want(swOK, "00FB0000", nil)
	c.selectPIV()
	c.want(swOK, "00200080", pin(DefaultPIN))
}

func TestChaining(t *testing.T) {
	c := newCard(t)
	c.selectPIV()
	c.authMgmt(defaultMgmt())
	pub := c.want(swMoreData|14, "0047009D", []byte{0xAC, 0x03, 0x80, 0x01, algRSA2048})
	if len(pub) != 256 {
		t.Fatalf("first chunk of the RSA public key: %d bytes", len(pub))
	}
	rest := c.want(swOK, "00C00000", nil)
	all := append(pub, rest...)
	if len(all) != 270 || all[0] != 0x7F || all[1] != 0x49 {
		t.Fatalf("public key answer: % X", all[:8])
	}
	c.want(swOK, "00200080", pin(DefaultPIN))
	block := make([]byte, 256)
	block[1] = 1 // a PKCS#1 type 1 block would do; any value below n does
	block[255] = 42
	tmpl := append([]byte{0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00}, block...)
	c.want(swOK, "10870796", nil) // wrong slot in the chain: starts over
	c.want(swOK, "1087079D", tmpl[:200])
	first := c.want(swMoreData|8, "0087079D", tmpl[200:])
	second := c.want(swOK, "00C00000", nil)
	sig := append(first, second...)[8:]
	k, _ := x509.ParsePKCS8PrivateKey(c.a.st.Keys["9d"].PKCS8)
	if err := rsaCheck(k.(*rsa.PrivateKey), block, sig); err != nil {
		t.Fatal(err)
	}
	// Extended length: the whole answer at once.
	ext := append([]byte{0x00, 0x87, 0x07, 0x9D, 0x00, 0x01, byte(len(tmpl) - 256)}, tmpl...)
	ext = append(ext, 0x00, 0x00)
	out := c.a.process(ext)
	if len(out) != 264+2 || !bytes.Equal(out[8:264], sig) {
		t.Fatalf("extended answer of %d bytes", len(out))
	}
}

// rsaCheck verifies a raw RSA private-key operation with the public key.
func rsaCheck(k *rsa.PrivateKey, block, sig []byte) error {
	got := newInt(sig).Exp(newInt(sig), bigE(k), k.N).FillBytes(make([]byte, 256))
	if !bytes.Equal(got, block) {
		return errTLV
	}
	return nil
}

func TestManagementKeys(t *testing.T) {
	c := newCard(t)
	c.selectPIV()
	c.want(swSecurity, "0047009A", []byte{0xAC, 0x03, 0x80, 0x01, algP256})
	wrong := bytes.Repeat([]byte{1}, 24)
	if st := c.authMgmt(wrong); st != swSecurity {
		t.Fatalf("wrong management key: %04X", st)
	}
	// External authentication: 81 empty asks for a challenge.
	out := c.want(swOK, "0087039B", []byte{0x7C, 0x02, 0x81, 0x00})
	block, _ := des.NewTripleDESCipher(defaultMgmt())
	enc := make([]byte, 8)
	block.Encrypt(enc, out[4:12])
	c.want(swOK, "0087039B", append([]byte{0x7C, 0x0A, 0x82, 0x08}, enc...))
	// An AES-128 management key, then mutual authentication with it.
	aesKey := bytes.Repeat([]byte{0x42}, 16)
	c.want(swOK, "00FFFFFF", append([]byte{algAES128, 0x9B, 16}, aesKey...))
	c.selectPIV()
	c.want(swWrongP1P2, "0087039B", []byte{0x7C, 0x02, 0x80, 0x00})
	out = c.want(swOK, "0087089B", []byte{0x7C, 0x02, 0x80, 0x00})
	ab, _ := newAES(aesKey)
	witness := make([]byte, 16)
	ab.Decrypt(witness, out[4:20])
	c.want(swOK, "0087089B", append(append([]byte{0x7C, 0x24, 0x80, 0x10}, witness...), append([]byte{0x81, 0x10}, make([]byte, 16)...)...))
	c.want(swOK, "0047009A", []byte{0xAC, 0x03, 0x80, 0x01, algP256})
	meta := c.want(swOK, "00F7009B", nil)
	if meta[2] != algAES128 {
		t.Fatalf("metadata of 9B: % X", meta)
	}
}

func newAES(k []byte) (cipher.Block, error) { return aes.NewCipher(k) }

func TestUnknownMode(t *testing.T) {
	c := newCard(t)
	c.a.unknown = true
	c.want(swNotFound, "00A40400", pivAID)
	c.want(swINSUnsupported, "00FD0000", nil)
	c.want(swINSUnsupported, "00CB3FFF", []byte{0x5C, 0x01, 0x7E})
}

func newInt(b []byte) *big.Int        { return new(big.Int).SetBytes(b) }
func bigE(k *rsa.PrivateKey) *big.Int { return big.NewInt(int64(k.E)) }
