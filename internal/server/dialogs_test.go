package server

import (
	"crypto"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/gorilla/websocket"
)

// consentCalls sends cards.list (which needs consent) from each origin on
// its own socket and collects the answers' error codes (0 for success) as
// they come, with when they came.
type answer struct {
	origin string
	code   int
	after  time.Duration
}

func askConsent(d *testDaemon, origins []string) <-chan answer {
	out := make(chan answer, len(origins))
	start := time.Now()
	for _, o := range origins {
		c := d.dial(o)
		go func() {
			if c.ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "cards.list"}) != nil {
				return
			}
			c.ws.SetReadDeadline(time.Now().Add(time.Minute))
			var r reply
			if err := c.ws.ReadJSON(&r); err != nil {
				return // the test ended and closed the socket
			}
			code := 0
			if r.Error != nil {
				code = r.Error.Code
			}
			out <- answer{o, code, time.Since(start)}
		}()
	}
	return out
}

func countPrompts(d *testDaemon, kind string) int {
	n := 0
	for _, p := range d.prompts() {
		if strings.HasPrefix(p, kind+" ") {
			n++
		}
	}
	return n
}

// With 20 unapproved origins waiting for consent and nobody answering, an
// allowed site's PIN dialog shows and its request completes within 10 s.
func TestPINNotBehindConsentFlood(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	t.Setenv("CB_TEST_CONFIRM", "hang") // nobody answers consent dialogs
	var origins []string
	for i := range 20 {
		origins = append(origins, fmt.Sprintf("https://site%d.example", i))
	}
	answers := askConsent(d, origins)
	// Wait until a consent dialog is on the screen.
	for deadline := time.Now().Add(10 * time.Second); countPrompts(d, "CONFIRM") == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no consent dialog showed")
		}
	}
	start := time.Now()
	err := c.call("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digest": digestFor(crypto.SHA256, "x")}, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("sign behind 20 consent prompts: %v (after %v)", err, took)
	}
	if took > 10*time.Second {
		t.Fatalf("sign behind 20 consent prompts took %v", took)
	}
	t.Logf("sign behind 20 waiting consent prompts took %v", took)
	// Those beyond the global cap were refused at once; none was allowed.
	refused := 0
	for len(answers) > 0 {
		a := <-answers
		if a.code == 0 {
			t.Fatalf("%s was allowed with nobody answering", a.origin)
		}
		refused++
	}
	if refused < 20-8 {
		t.Fatalf("only %d of 20 consent requests were refused at once", refused)
	}
}

// Of 10 consent requests from subdomains of one domain, at least 7 are
// refused within 3 s.
func TestConsentCappedPerDomain(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	t.Setenv("CB_TEST_CONFIRM", "hang")
	var origins []string
	for i := range 10 {
		origins = append(origins, fmt.Sprintf("https://s%d.evil.example", i))
	}
	answers := askConsent(d, origins)
	refused := 0
	timeout := time.After(3 * time.Second)
loop:
	for refused < 10 {
		select {
		case a := <-answers:
			if a.code == 0 {
				t.Fatalf("%s allowed", a.origin)
			}
			refused++
		case <-timeout:
			break loop
		}
	}
	if refused < 7 {
		t.Fatalf("%d of 10 consent requests from one domain refused within 3 s, want at least 7", refused)
	}
	t.Logf("%d of 10 refused within 3 s; dialogs shown: %d", refused, countPrompts(d, "CONFIRM"))
}

// A page that was refused and asks again gets no new dialog for a while,
// and a domain whose origins were refused several times gets none for its
// other origins either.
func TestRefusalIsRemembered(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	t.Setenv("CB_TEST_CONFIRM", "no")
	c := d.dial("https://a.pest.example")
	wantCode(t, c.call("cards.list", nil, nil), protocol.CodeOriginDenied)
	for range 3 {
		start := time.Now()
		wantCode(t, c.call("keys.list", nil, nil), protocol.CodeOriginDenied)
		if time.Since(start) > time.Second {
			t.Fatal("a remembered refusal was slow")
		}
	}
	// A new socket from the same origin is the same page asking again.
	wantCode(t, d.dial("https://a.pest.example").call("cards.list", nil, nil), protocol.CodeOriginDenied)
	if n := countPrompts(d, "CONFIRM"); n != 1 {
		t.Fatalf("%d consent dialogs for one refused origin, want 1", n)
	}
	// Two more refusals in the domain, then its next origin is not asked.
	wantCode(t, d.dial("https://b.pest.example").call("cards.list", nil, nil), protocol.CodeOriginDenied)
	wantCode(t, d.dial("https://c.pest.example").call("cards.list", nil, nil), protocol.CodeOriginDenied)
	wantCode(t, d.dial("https://d.pest.example").call("cards.list", nil, nil), protocol.CodeOriginDenied)
	if n := countPrompts(d, "CONFIRM"); n != 3 {
		t.Fatalf("%d consent dialogs, want 3", n)
	}
	// Other sites are unaffected.
	t.Setenv("CB_TEST_CONFIRM", "yes")
	d.dial("https://friend.example").mustCall("cards.list", nil, nil)
}

// Origins are ASCII: a look-alike or percent-encoded host is refused at
// the door, and what dialogs show is the punycode form.
func TestNonASCIIOriginsRefused(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	for _, o := range []string{"https://pаypal.example", "https://p%61ypal.example", "https://portal.example\u2028"} {
		ws, resp, err := websocket.DefaultDialer.Dial(d.url(), http.Header{"Origin": {o}})
		if err == nil {
			ws.Close()
			t.Fatalf("origin %q accepted", o)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: %v %v", o, resp, err)
		}
	}
	t.Setenv("CB_TEST_CONFIRM", "no")
	wantCode(t, d.dial("https://xn--pypal-4ve.example").call("cards.list", nil, nil), protocol.CodeOriginDenied)
	if p := d.prompts(); len(p) != 1 || !strings.Contains(p[0], "Allow https://xn--pypal-4ve.example to use your cards?") {
		t.Fatalf("prompts = %q", p)
	}
}

// Text a page or a card controls reaches the dialog neutralised: no line
// separators, bidi controls, NUL or ESC, and mail headers are marked as
// the page's claim.
func TestDialogTextIsNeutralised(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	c := d.dial(portal)
	ca, _ := newCA(t)
	keyID, _ := enrolled(t, c, ca, "EC-P256", "boss@example.org")
	forged := "Alice\u2028Card: 0000 0000\u2029Reader: Trusted\u202Egnp.exe\u2066x\u2069"
	var csr protocol.CSRCreateResult
	c.mustCall("csr.create", map[string]any{"keyId": keyID, "subject": map[string]any{"commonName": forged}}, &csr)
	// A mail whose RFC 2047 headers decode to NUL and ESC.
	msg := "From: boss@example.org\r\nTo: =?utf-8?q?me=00=1B[2J?= <me@example.org>\r\nSubject: =?utf-8?q?pay=00now=E2=80=A8Card:_1=1B[2J?=\r\n" +
		"Content-Type: text/plain\r\n\r\nhello\r\n"
	c.mustCall("smime.sign", map[string]any{"message": []byte(msg)}, nil)
	log := strings.Join(d.prompts(), "\n")
	for _, raw := range []string{"\u2028", "\u2029", "\u202E", "\u2066", "\u2069", "\x00", "\x1b", "%00", "%1B"} {
		if strings.Contains(log, raw) {
			t.Errorf("a dialog was sent %q:\n%s", raw, log)
		}
	}
	if !strings.Contains(log, "Alice\uFFFDCard: 0000 0000\uFFFDReader: Trusted\uFFFDgnp.exe") {
		t.Errorf("CSR dialog:\n%s", log)
	}
	if !strings.Contains(log, "The page says it is (not checked by cardbridge)") {
		t.Errorf("mail headers not marked as the page's claim:\n%s", log)
	}
}
