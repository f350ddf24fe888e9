package token

import (
	"context"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

// BenchmarkSignBatch signs 200 RSA-2048 digests after one login, the way a
// sign request does.
func BenchmarkSignBatch(b *testing.B) {
	tok := softhsmtest.New(b, "bench")
	m, err := Open(Options{Modules: []string{tok.Module}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ka, _ := ParseKeyAlgorithm("RSA-2048")
	sa, _ := ParseSignAlgorithm("RSA-PKCS1-SHA256")
	var k KeyInfo
	m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) (err error) {
		k, err = s.GenerateKey(ka, "k", GenerateOptions{})
		return err
	})
	digests := make([][]byte, 200)
	for i := range digests {
		digests[i] = make([]byte, 32)
		digests[i][0] = byte(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := m.Do(context.Background(), tok.Serial, pinFunc(tok.PIN, nil), func(s *Session) error {
			_, err := s.Sign(k, sa, digests)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
