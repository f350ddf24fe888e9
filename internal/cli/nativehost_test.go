package cli

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func frame(b []byte) []byte {
	out := make([]byte, 4, 4+len(b))
	binary.LittleEndian.PutUint32(out, uint32(len(b)))
	return append(out, b...)
}

func TestNativeFraming(t *testing.T) {
	var buf bytes.Buffer
	if err := writeNative(&buf, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	got, err := readNative(&buf)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("round trip: %q %v", got, err)
	}
	// Over the cap either way: refused on read, replaced by an error on write.
	big := make([]byte, 4)
	binary.LittleEndian.PutUint32(big, maxNativeMessage+1)
	if _, err := readNative(bytes.NewReader(big)); err == nil {
		t.Fatal("oversize message read")
	}
	if _, err := readNative(bytes.NewReader([]byte{0, 0, 0, 0})); err == nil {
		t.Fatal("empty message read")
	}
	if _, err := readNative(bytes.NewReader(frame([]byte("{"))[:3])); err == nil {
		t.Fatal("truncated length read")
	}
	buf.Reset()
	writeNative(&buf, make([]byte, maxNativeMessage+10))
	out, _ := readNative(&buf)
	if !strings.Contains(string(out), "too large") {
		t.Fatalf("oversize answer: %.80s", out)
	}
}

func TestNativeHostNeedsAHello(t *testing.T) {
	for _, first := range []string{`{"jsonrpc":"2.0","id":1,"method":"cards.list"}`, `{"cardbridge":"hello"}`, `not json`} {
		err := nativeHost(bytes.NewReader(frame([]byte(first))), &bytes.Buffer{}, &bytes.Buffer{}, []string{"chrome-extension://x/"})
		if err == nil || !strings.Contains(err.Error(), "hello") {
			t.Errorf("first message %s: %v", first, err)
		}
	}
}

func TestNativeHostInvocation(t *testing.T) {
	for args, want := range map[string]bool{
		"chrome-extension://lbbliobokjckpakbilehjmlondngalee/":                                  true,
		"/home/u/.mozilla/native-messaging-hosts/app.cardbridge.json cardbridge@cardbridge.app": true,
		"serve --listen 127.0.0.1:1":                                                            false,
		"":                                                                                      false,
	} {
		if got := isNativeHostInvocation(strings.Fields(args)); got != want {
			t.Errorf("%q: %v", args, got)
		}
	}
}
