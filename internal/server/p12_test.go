//go:build linux

package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/p12/p12test"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// cpuTime is this process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// decoders counts this process's PKCS#12 decoder children still alive.
func decoders(t *testing.T) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The parent pid is the second field after the command name.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			if bytes.Contains(env, []byte("CARDBRIDGE_INTERNAL_P12_DECODE=1")) {
				n++
			}
		}
	}
	return n
}

// waitIdle fails unless, within 5 s, no decoder is left and the daemon's
// CPU use over a second is small.
func waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for decoders(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a PKCS#12 decoder is still running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := cpuTime()
	time.Sleep(time.Second)
	if used := cpuTime() - before; used > 300*time.Millisecond {
		t.Fatalf("the daemon used %s of CPU in an idle second", used)
	}
}

func TestPKCS12CostlyBundles(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	queue := filepath.Join(t.TempDir(), "answers")
	t.Setenv("CB_TEST_PIN_QUEUE", queue)
	answer := func(lines ...string) { os.WriteFile(queue, []byte(strings.Join(lines, "\n")+"\n"), 0o600) }
	dir := t.TempDir()
	key, cert, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "b.p12")
	openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Costly", "-days", "30")
	openssl(t, "pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw")
	data, _ := os.ReadFile(p12)
	c := d.dial(portal)

	// 2^31-1 iterations where they can be read: refused at once.
	for _, n := range []int64{1<<31 - 1, 1 << 62} {
		costly, err := p12test.WithMACIterations(data, n)
		if err != nil {
			t.Fatal(err)
		}
		answer("pin pw")
		start := time.Now()
		wantCode(t, c.call("pkcs12.import", map[string]any{"pkcs12": costly}, nil), protocol.CodeInvalidParams)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("%d iterations refused after %s", n, took)
		}
		waitIdle(t)
	}

	// Where only decryption shows them, the decoding ends with the page:
	// the CPU goes idle and the site's dialog gate is free again.
	hidden, err := p12test.CostlyKey("pw", 1<<31-1, true)
	if err != nil {
		t.Fatal(err)
	}
	answer("pin pw")
	page := d.dial(portal)
	page.send("pkcs12.import", map[string]any{"pkcs12": hidden})
	for deadline := time.Now().Add(5 * time.Second); decoders(t) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the decoder never started")
		}
	}
	page.ws.Close()
	waitIdle(t)
	answer("pin pw")
	wantCode(t, c.call("pkcs12.import", map[string]any{"pkcs12": []byte("junk")}, nil), protocol.CodeInvalidParams)
}
