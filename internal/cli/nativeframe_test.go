package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects what the native host writes to the browser.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// messages decodes the native messages written so far.
func (b *lockedBuffer) messages() []string {
	b.mu.Lock()
	r := bytes.NewReader(bytes.Clone(b.buf.Bytes()))
	b.mu.Unlock()
	var out []string
	for {
		m, err := readNative(r)
		if err != nil {
			return out
		}
		out = append(out, string(m))
	}
}

// One native message is one request, whatever it contains: raw newlines
// between its tokens do not split it, and two requests in one message are
// one bad message, not two requests.
func TestNativeMessageIsOneRequest(t *testing.T) {
	e := newDesktopEnv(t)
	daemon := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	go daemon.Wait()
	e.waitDaemon()

	in, feed := io.Pipe()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- nativeHost(in, out, io.Discard, []string{"chrome-extension://x/"}) }()
	msgs := []string{
		`{"cardbridge":"hello","origin":"https://portal.example","version":1}`,
		"{\"jsonrpc\":\"2.0\",\n\"id\":1,\r\n\"method\":\"system.info\"\n}",
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"system.info\"}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"system.info\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"system.info\",\"x\":\"a\nb\"}",
		`{"jsonrpc":"2.0","id":5,"method":"system.info"}`,
	}
	go func() {
		for _, m := range msgs {
			feed.Write(frame([]byte(m)))
		}
	}()
	// The hello's answer and one answer per message.
	for deadline := time.Now().Add(10 * time.Second); len(out.messages()) < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything extra would come now
	got := out.messages()
	feed.Close()
	<-done
	if len(got) != 5 {
		t.Fatalf("%d answers, want 5:\n%s", len(got), strings.Join(got, "\n"))
	}
	var ids []string
	for _, m := range got[1:] {
		var r struct {
			ID    json.RawMessage `json:"id"`
			Error *struct{ Code int }
		}
		json.Unmarshal([]byte(m), &r)
		code := 0
		if r.Error != nil {
			code = r.Error.Code
		}
		ids = append(ids, string(r.ID)+":"+itoa(code))
	}
	// 1 and 5 run; 2+3 and the raw newline inside a string are parse
	// errors. Answers come as requests finish, in any order.
	slices.Sort(ids)
	if strings.Join(ids, " ") != "1:0 5:0 null:-32700 null:-32700" {
		t.Fatalf("answers: %s\n%s", ids, strings.Join(got, "\n"))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
