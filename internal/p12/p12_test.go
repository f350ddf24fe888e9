package p12

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/p12/p12test"
)

// bundle makes a .p12 with openssl, the judge of what a real bundle is.
func bundle(t *testing.T, extra ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing")
		}
		t.Skip("openssl is missing")
	}
	dir := t.TempDir()
	key, cert, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "b.p12")
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Bob", "-days", "30"},
		append([]string{"pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw"}, extra...),
	} {
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, b)
		}
	}
	b, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"openssl3 default", nil},
		{"legacy", []string{"-legacy"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := bundle(t, tt.args...)
			b, err := Decode(context.Background(), data, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if b.Cert.Subject.CommonName != "Bob" || b.Key == nil {
				t.Fatalf("decoded %+v", b)
			}
			if _, err := Decode(context.Background(), data, "wrong"); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
	for _, junk := range [][]byte{nil, []byte("junk"), make([]byte, MaxSize+1)} {
		if _, err := Decode(context.Background(), junk, "pw"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("junk of %d bytes: %v", len(junk), err)
		}
	}
}

func withMACIterations(t *testing.T, data []byte, n int64) []byte {
	out, err := p12test.WithMACIterations(data, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func costly(t *testing.T, hidden bool) []byte {
	out, err := p12test.CostlyKey("pw", 1<<31-1, hidden)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHugeIterationCountsRefusedAtOnce(t *testing.T) {
	data := bundle(t)
	for _, n := range []int64{1<<31 - 1, 1 << 62, MaxIterations + 1, 0, -5} {
		start := time.Now()
		_, err := Decode(context.Background(), withMACIterations(t, data, n), "pw")
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("%d iterations: %v", n, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d iterations refused after %s", n, d)
		}
	}
	// A visible key bag over the cap is refused as well.
	_, err := Decode(context.Background(), costly(t, false), "pw")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("visible key bag: %v", err)
	}
}

// A key bag inside an encrypted container shows its iteration count only
// after decryption; the decoding stops with the request's context.
func TestHiddenIterationCountStopsWithContext(t *testing.T) {
	data := costly(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := Decode(ctx, data, "pw")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	// Decode returns once the child has been killed and reaped: no
	// goroutine or process is left deriving keys.
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stopped after %s", d)
	}
}
