package p12

import (
	"errors"
	"testing"

	"github.com/cardbridge/cardbridge/internal/p12/p12test"
)

// FuzzCheckCost feeds the cost check bundles of any shape: it must never
// panic, and it refuses only with ErrInvalid. The committed corpus in
// testdata/fuzz holds bundles from openssl 3 (default and -legacy) and
// costly ones.
func FuzzCheckCost(f *testing.F) {
	for _, hidden := range []bool{false, true} {
		b, err := p12test.CostlyKey("pw", 1<<31-1, hidden)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, empty := range []bool{false, true} {
			if err := checkCost(data, empty); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error: %v", err)
			}
		}
	})
}
