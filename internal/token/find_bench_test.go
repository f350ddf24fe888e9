package token

import (
	"context"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm/softhsmtest"
)

func BenchmarkFind(b *testing.B) {
	tok := softhsmtest.New(b, "bench")
	m, err := Open(Options{Modules: []string{tok.Module}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.Run("find", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.find(tok.Serial)
		}
	})
	b.Run("keys", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.Keys(context.Background(), tok.Serial)
		}
	})
	b.Run("readers", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.Readers()
		}
	})
}
