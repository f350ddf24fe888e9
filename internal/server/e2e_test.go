package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
	"github.com/cardbridge/cardbridge/internal/token"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

func digestFor(h crypto.Hash, msg string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(msg))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(msg))
		return d[:]
	}
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

func verifySig(spki []byte, alg token.SignAlgorithm, digest, sig []byte) error {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return err
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if alg.PSS {
			return rsa.VerifyPSS(pub, alg.Hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		return rsa.VerifyPKCS1v15(pub, alg.Hash, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ecdsa signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unexpected key type %T", pub)
}

func TestEveryAlgorithmOverWebSocket(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var info protocol.SystemInfo
	c.mustCall("system.info", nil, &info)
	if info.Name != "cardbridge" || info.Protocol != 1 || len(info.Methods) == 0 {
		t.Fatalf("system.info = %+v", info)
	}
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	if len(cards.Readers) != 1 || cards.Readers[0].Card == nil || cards.Readers[0].Card.Serial != d.tok.Serial {
		t.Fatalf("cards.list = %+v", cards)
	}
	for _, ka := range token.KeyAlgorithms {
		var gen protocol.KeysGenerateResult
		c.mustCall("keys.generate", map[string]any{"card": d.tok.Serial, "algorithm": ka.Name, "label": "key " + ka.Name}, &gen)
		if gen.Algorithm != ka.Name {
			t.Fatalf("generated %s, want %s", gen.Algorithm, ka.Name)
		}
		for _, sa := range token.SignAlgorithms {
			if sa.RSA != ka.RSA {
				wantCode(t, c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": sa.Name, "digest": digestFor(sa.Hash, "x")}, nil), protocol.CodeUnsupported)
				continue
			}
			var res protocol.SignResult
			dg := digestFor(sa.Hash, "document "+sa.Name)
			c.mustCall("sign", map[string]any{"card": d.tok.Serial, "keyId": gen.KeyID, "algorithm": sa.Name, "digest": dg}, &res)
			if err := verifySig(gen.PublicKey, sa, dg, res.Signature); err != nil {
				t.Fatalf("%s/%s: %v", ka.Name, sa.Name, err)
			}
			// data is hashed by the daemon with the scheme's hash.
			c.mustCall("sign", map[string]any{"keyId": gen.KeyID, "algorithm": sa.Name, "data": []byte("raw data")}, &res)
			if err := verifySig(gen.PublicKey, sa, digestFor(sa.Hash, "raw data"), res.Signature); err != nil {
				t.Fatalf("%s/%s over data: %v", ka.Name, sa.Name, err)
			}
		}
	}
	var keys protocol.KeysList
	c.mustCall("keys.list", map[string]any{"card": d.tok.Serial}, &keys)
	if len(keys.Keys) != len(token.KeyAlgorithms) {
		t.Fatalf("keys.list has %d keys", len(keys.Keys))
	}
	// Every dialog named the site, the card and the reader.
	for _, p := range d.prompts() {
		if !strings.HasPrefix(p, "GETPIN ") || !strings.Contains(p, portal) || !strings.Contains(p, "Card:") || !strings.Contains(p, "Reader:") {
			t.Fatalf("prompt lacks context: %q", p)
		}
	}
}

func TestBatchSignAsksOnce(t *testing.T) {
	d := startDaemon(t, daemonOpts{observe: true})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	before := len(d.prompts())
	var digests [][]byte
	for i := 0; i < 50; i++ {
		digests = append(digests, digestFor(crypto.SHA256, fmt.Sprint(i)))
	}
	var res protocol.SignResult
	c.mustCall("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": digests}, &res)
	if len(res.Signatures) != 50 {
		t.Fatalf("%d signatures", len(res.Signatures))
	}
	alg, _ := token.ParseSignAlgorithm("ECDSA-SHA256")
	for i, s := range res.Signatures {
		if err := verifySig(gen.PublicKey, alg, digests[i], s); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
	}
	if n := len(d.prompts()) - before; n != 1 {
		t.Fatalf("batch asked for the PIN %d times", n)
	}
	if !strings.Contains(d.prompts()[before], "sign 50 documents") {
		t.Fatalf("prompt = %q", d.prompts()[before])
	}
	// The audit line says where the time went: dialog, login, card.
	lines := d.logs.FilterMessage("request").FilterField(zap.String("method", "sign")).All()
	if len(lines) != 1 {
		t.Fatalf("%d audit lines for one sign request", len(lines))
	}
	f := lines[0].ContextMap()
	for _, k := range []string{"pin_dialog", "login", "card"} {
		if v, ok := f[k].(time.Duration); !ok || v <= 0 {
			t.Errorf("audit line: %s = %v, want a duration", k, f[k])
		}
	}
	// Bad batches are refused before any dialog.
	wantCode(t, c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": [][]byte{}}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": [][]byte{{1, 2}}}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digests[0], "data": []byte("x")}, nil), protocol.CodeInvalidParams)
	if n := len(d.prompts()) - before; n != 1 {
		t.Fatalf("refused requests opened %d dialogs", n-1)
	}
}

func TestWrongPINIsNotRetried(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	t.Setenv("CB_TEST_PIN", "999999")
	before := len(d.prompts())
	err := c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	wantCode(t, err, protocol.CodePINIncorrect)
	if err.Data.CountLow == nil || !*err.Data.CountLow {
		t.Fatalf("countLow not reported: %+v", err.Data)
	}
	if n := len(d.prompts()) - before; n != 1 {
		t.Fatalf("PIN asked %d times", n)
	}
	// The next dialog warns that tries are running out.
	t.Setenv("CB_TEST_PIN", softhsmtest.PIN)
	c.mustCall("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	if last := d.prompts()[len(d.prompts())-1]; !strings.Contains(last, "warning:") {
		t.Fatalf("no warning in %q", last)
	}
	// A PIN the card must refuse for its length never reaches it.
	t.Setenv("CB_TEST_PIN", "12")
	err = c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	wantCode(t, err, protocol.CodePINIncorrect)
	if !strings.Contains(err.Data.Reason, "no try was used") {
		t.Fatalf("reason = %q", err.Data.Reason)
	}
}

func TestCancelTimeoutAndLocked(t *testing.T) {
	locked := false
	d := startDaemon(t, daemonOpts{promptTimeout: 2 * time.Second, loginFault: func(string) uint {
		if locked {
			return token.CKRPINLocked
		}
		return 0
	}})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P384"}, &gen)
	signReq := map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA384", "digest": digestFor(crypto.SHA384, "x")}

	t.Setenv("CB_TEST_PINENTRY", "cancel")
	wantCode(t, c.call("sign", signReq, nil), protocol.CodeUserCancelled)

	t.Setenv("CB_TEST_PINENTRY", "hang")
	wantCode(t, c.call("sign", signReq, nil), protocol.CodeTimeout)

	t.Setenv("CB_TEST_PINENTRY", "ok")
	locked = true
	wantCode(t, c.call("sign", signReq, nil), protocol.CodePINLocked)
	locked = false
	c.mustCall("sign", signReq, nil)
}

func TestKeyNotFoundAsksNothing(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	wantCode(t, c.call("sign", map[string]any{"keyId": "0badc0de", "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil), protocol.CodeKeyNotFound)
	wantCode(t, c.call("sign", map[string]any{"keyId": "not hex", "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil), protocol.CodeInvalidParams)
	wantCode(t, c.call("keys.generate", map[string]any{"algorithm": "RSA-1024"}, nil), protocol.CodeUnsupported)
	wantCode(t, c.call("keys.list", map[string]any{"card": "no-such-card"}, nil), protocol.CodeCardNotPresent)
	wantCode(t, c.call("keys.generate", map[string]any{"algorithm": "EC-P256", "label": "bad\nlabel"}, nil), protocol.CodeInvalidParams)
	if p := d.prompts(); len(p) != 0 {
		t.Fatalf("dialogs opened: %q", p)
	}
}

func TestHostAndOriginChecks(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	tests := []struct {
		name, host, origin string
		status             int
	}{
		{"dns rebinding", "evil.example:" + itoa(d.port), portal, http.StatusForbidden},
		{"wrong port in host", "127.0.0.1:1", portal, http.StatusForbidden},
		{"no origin", "", "", http.StatusForbidden},
		{"plain http site", "", "http://portal.example", http.StatusForbidden},
		{"opaque origin", "", "null", http.StatusForbidden},
		{"extension origin", "", "chrome-extension://abcdef", http.StatusForbidden},
		{"approved https", "", portal, http.StatusSwitchingProtocols},
		{"unapproved https is upgraded", "", "https://new.example", http.StatusSwitchingProtocols},
		{"localhost development", "localhost:" + itoa(d.port), "http://localhost:3000", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.host != "" {
				h.Set("Host", tt.host)
			}
			dialer := *websocket.DefaultDialer
			ws, resp, err := dialer.Dial(d.url(), h)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tt.status, err)
			}
			if ws != nil {
				ws.Close()
			}
		})
	}
}

func TestConsent(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial("https://new.example")
	// system.info needs no consent, so pages can detect cardbridge.
	c.mustCall("system.info", nil, nil)
	if len(d.prompts()) != 0 {
		t.Fatal("system.info asked for consent")
	}
	t.Setenv("CB_TEST_CONFIRM", "no")
	wantCode(t, c.call("cards.list", nil, nil), protocol.CodeOriginDenied)
	t.Setenv("CB_TEST_CONFIRM", "yes")
	// The refusal stands for a while: no second dialog (see
	// TestRefusalIsRemembered). Another site is asked.
	wantCode(t, c.call("cards.list", nil, nil), protocol.CodeOriginDenied)
	c = d.dial("https://other.example")
	c.mustCall("cards.list", nil, nil)
	c.mustCall("cards.list", nil, nil) // remembered: no second dialog
	p := d.prompts()
	if len(p) != 2 || !strings.HasPrefix(p[0], "CONFIRM ") || !strings.Contains(p[0], "https://new.example") || !strings.Contains(p[1], "https://other.example") {
		t.Fatalf("prompts = %q", p)
	}
	if b, err := readFile(filepath.Join(d.confDir, "sites.json")); err != nil || !strings.Contains(b, "https://other.example") || strings.Contains(b, "https://new.example") {
		t.Fatalf("decision not stored: %q %v", b, err)
	}
}

func TestPINFieldIsRefused(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	for _, field := range []string{"pin", "PIN", "password", "puk"} {
		err := c.call("sign", map[string]any{"keyId": "01", "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x"), field: "123456"}, nil)
		wantCode(t, err, protocol.CodeInvalidParams)
		if strings.Contains(err.Data.Reason, "123456") {
			t.Fatal("the PIN was echoed")
		}
	}
}

func TestBadFramesKeepConnection(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	frames := []struct {
		name  string
		typ   int
		frame []byte
		code  int
	}{
		{"not json", websocket.TextMessage, []byte("{nope"), protocol.CodeParseError},
		{"not an object", websocket.TextMessage, []byte(`"hello"`), protocol.CodeInvalidRequest},
		{"batch", websocket.TextMessage, []byte(`[{"jsonrpc":"2.0","id":1,"method":"system.info"}]`), protocol.CodeInvalidRequest},
		{"wrong version", websocket.TextMessage, []byte(`{"jsonrpc":"1.0","id":1,"method":"system.info"}`), protocol.CodeInvalidRequest},
		{"no method", websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1}`), protocol.CodeInvalidRequest},
		{"object id", websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":{},"method":"system.info"}`), protocol.CodeInvalidRequest},
		{"unknown method", websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"rm.rf"}`), protocol.CodeMethodNotFound},
		{"bad params", websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"keys.list","params":[1]}`), protocol.CodeInvalidParams},
		{"unknown param", websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"keys.list","params":{"x":1}}`), protocol.CodeInvalidParams},
		{"binary", websocket.BinaryMessage, []byte{0, 1, 2}, protocol.CodeInvalidRequest},
		{"oversize", websocket.TextMessage, append([]byte(`{"jsonrpc":"2.0","id":1,"method":"system.info","params":{"x":"`), make([]byte, protocol.MaxFrame)...), protocol.CodeInvalidRequest},
	}
	for _, f := range frames {
		if err := c.ws.WriteMessage(f.typ, f.frame); err != nil {
			t.Fatal(err)
		}
		r := c.read()
		if r.Error == nil || r.Error.Code != f.code {
			t.Fatalf("%s: got %+v, want code %d", f.name, r.Error, f.code)
		}
		// The connection still works.
		c.mustCall("system.info", nil, nil)
	}
	// A notification gets no answer and does no work.
	c.ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","method":"keys.generate","params":{"algorithm":"EC-P256"}}`))
	var keys protocol.KeysList
	c.mustCall("keys.list", nil, &keys)
	if len(keys.Keys) != 0 {
		t.Fatal("a notification generated a key")
	}
}

func TestOnePromptPerSite(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	before := len(d.prompts())
	t.Setenv("CB_TEST_PINENTRY", "hang")
	req := map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}
	first := c.send("sign", req)
	// Wait until the first dialog is open.
	for deadline := time.Now().Add(10 * time.Second); len(d.prompts()) == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first dialog never opened")
		}
	}
	second := c.send("sign", req)
	r := c.read()
	if string(r.ID) != itoa(second) || r.Error == nil || r.Error.Code != protocol.CodeBusy {
		t.Fatalf("second request: %+v", r)
	}
	// Another site is not blocked by this one's dialog, and cards.list
	// needs no dialog at all.
	c.mustCall("cards.list", nil, nil)
	_ = first
	// Closing the socket closes the dialog; the site can ask again.
	c.ws.Close()
	t.Setenv("CB_TEST_PINENTRY", "ok")
	c2 := d.dial(portal)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e := c2.call("sign", req, nil); e == nil {
			err = nil
			break
		} else {
			err = e
		}
	}
	if err != nil {
		t.Fatalf("after closing the socket: %v", err)
	}
}

func TestCardRemovedMidSession(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	if err := softhsm.Delete(d.tok.Conf, d.tok.Serial); err != nil {
		t.Fatal(err)
	}
	err := c.call("sign", map[string]any{"card": d.tok.Serial, "keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	if err == nil || (err.Code != protocol.CodeCardRemoved && err.Code != protocol.CodeCardNotPresent) {
		t.Fatalf("sign on a removed card: %v", err)
	}
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	for _, r := range cards.Readers {
		if r.Card != nil && r.Card.Serial == d.tok.Serial {
			t.Fatal("removed card still listed")
		}
	}
	// A card inserted later works without a restart.
	tok2, err2 := softhsm.Create(filepath.Dir(d.tok.Conf), "second", softhsmtest.PIN, softhsmtest.SOPIN)
	if err2 != nil {
		t.Fatal(err2)
	}
	// Modules are re-initialised at most once a second to see new
	// software tokens, so the card may take that long to show.
	var gen2 protocol.KeysGenerateResult
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := c.call("keys.generate", map[string]any{"card": tok2.Serial, "algorithm": "EC-P256"}, &gen2)
		if err == nil {
			break
		}
		if err.Code != protocol.CodeCardNotPresent || time.Now().After(deadline) {
			t.Fatalf("keys.generate on the new card: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.mustCall("sign", map[string]any{"card": tok2.Serial, "keyId": gen2.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
}

func TestManyClientsAtOnce(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.Dial(d.url(), http.Header{"Origin": {portal}})
			if err != nil {
				errs <- err
				return
			}
			defer ws.Close()
			for j := 0; j < 20; j++ {
				ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": j, "method": "cards.list"})
				var r reply
				if err := ws.ReadJSON(&r); err != nil {
					errs <- err
					return
				}
				if r.Error != nil {
					errs <- r.Error
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestTwoModulesOverWebSocket(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	// A copy of the SoftHSM2 library is a second module with its own
	// state; it reads SOFTHSM2_CONF when it is initialised.
	dir := t.TempDir()
	lib := filepath.Join(dir, "libsecond-pkcs11.so")
	src, err := os.ReadFile(d.tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(lib, src, 0o644)
	tok2, err := softhsm.Create(filepath.Join(dir, "second"), "second card", softhsmtest.PIN, softhsmtest.SOPIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok2.Conf)
	if err := d.tokens.AddModule(lib); err != nil {
		t.Fatal(err)
	}
	c := d.dial(portal)
	var cards protocol.CardsList
	c.mustCall("cards.list", nil, &cards)
	modules := map[string]string{}
	for _, r := range cards.Readers {
		if r.Card != nil {
			modules[r.Card.Serial] = r.Module
		}
	}
	if modules[d.tok.Serial] == "" || modules[tok2.Serial] != "libsecond-pkcs11.so" {
		t.Fatalf("cards = %v", modules)
	}
	// Without a serial the choice is ambiguous and refused.
	wantCode(t, c.call("keys.generate", map[string]any{"algorithm": "EC-P256"}, nil), protocol.CodeInvalidParams)
	for _, serial := range []string{d.tok.Serial, tok2.Serial} {
		var gen protocol.KeysGenerateResult
		c.mustCall("keys.generate", map[string]any{"card": serial, "algorithm": "EC-P256"}, &gen)
		var res protocol.SignResult
		dg := digestFor(crypto.SHA256, serial)
		c.mustCall("sign", map[string]any{"card": serial, "keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": dg}, &res)
		alg, _ := token.ParseSignAlgorithm("ECDSA-SHA256")
		if err := verifySig(gen.PublicKey, alg, dg, res.Signature); err != nil {
			t.Fatal(err)
		}
	}
}
