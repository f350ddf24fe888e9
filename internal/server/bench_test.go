package server

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

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

// BenchmarkLoad is the load phase of task bench in one process, for
// profiling: 64 pages making PIN-less requests while 8 sites sign batches.
func BenchmarkLoad(b *testing.B) {
	var sitesList []string
	for i := range 8 {
		sitesList = append(sitesList, "https://site"+itoa(i)+".example")
	}
	d := startDaemon(b, daemonOpts{quiet: true, origins: sitesList})
	var gen protocol.KeysGenerateResult
	d.dial(portal).mustCall("keys.generate", map[string]any{"algorithm": "EC-P256"}, &gen)
	digests := make([][]byte, 1000)
	for i := range digests {
		s := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		digests[i] = s[:]
	}
	call := func(ws *websocket.Conn, method string, params any) error {
		msg := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
		if params != nil {
			msg["params"] = params
		}
		if err := ws.WriteJSON(msg); err != nil {
			return err
		}
		var r reply
		if err := ws.ReadJSON(&r); err != nil {
			return err
		}
		if r.Error != nil {
			return r.Error
		}
		return nil
	}
	dial := func(origin string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(d.url(), http.Header{"Origin": {origin}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		return ws
	}
	signers := make([]*websocket.Conn, 8)
	for i := range signers {
		signers[i] = dial(sitesList[i])
	}
	readers := make([]*websocket.Conn, 64)
	for i := range readers {
		readers[i] = dial(portal)
	}
	var errs atomic.Int64
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		for _, ws := range signers {
			wg.Go(func() {
				if err := call(ws, "sign", map[string]any{"keyId": gen.KeyID, "algorithm": "ECDSA-SHA256", "digests": digests}); err != nil {
					errs.Add(1)
				}
			})
		}
		for _, ws := range readers {
			wg.Go(func() {
				for j := 0; j < 50; j++ {
					method := "cards.list"
					if j%2 == 1 {
						method = "keys.list"
					}
					if err := call(ws, method, nil); err != nil {
						errs.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	if errs.Load() != 0 {
		b.Fatalf("%d errors", errs.Load())
	}
}

// BenchmarkSystemInfo is one protocol round trip over the WebSocket,
// client included; -benchmem shows the allocations per request.
func BenchmarkSystemInfo(b *testing.B) {
	d := startDaemon(b, daemonOpts{quiet: true})
	c := d.dial(portal)
	b.ReportAllocs()
	for b.Loop() {
		c.mustCall("system.info", nil, nil)
	}
}
