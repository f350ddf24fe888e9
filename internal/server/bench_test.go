package server

import (
	"crypto/sha256"
	"testing"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// BenchmarkBatchSignEC measures one sign request of 1000 EC-P256 digests
// over the WebSocket, dialog and login included; task bench reports it
// against raw PKCS#11.
func BenchmarkBatchSignEC(b *testing.B) {
	d := startDaemon(b, daemonOpts{})
	c := d.dial(portal)
	var gen protocol.KeysGenerateResult
	c.mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	digests := make([][]byte, 1000)
	for i := range digests {
		s := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		digests[i] = s[:]
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.mustCall("sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": digests}, nil)
	}
}
