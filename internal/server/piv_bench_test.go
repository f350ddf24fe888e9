package server

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/bench"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

// BenchmarkPIVKeysList: keys.list on the virtual PIV card behind pcscd,
// through cardbridge over the WebSocket, against the same list straight
// through ykcs11 in this process (a copy of the library, so that it has
// state of its own). Requests come 300 ms apart, as from a page that
// polls, so cardbridge's slot scan is never fresh from the request
// before. Reported: p50 of both and the difference.
func BenchmarkPIVKeysList(b *testing.B) {
	pb := startPIV(b)
	c := pb.d.dial(portal)
	for _, purpose := range []string{"authenticate", "sign"} {
		c.mustCall("keys.generate", map[string]any{"card": pb.serial, "algorithm": "EC-P256", "purpose": purpose}, nil)
	}
	yk, err := pcsctest.YKCS11Module()
	if err != nil {
		b.Fatal(err)
	}
	lib, err := os.ReadFile(yk)
	if err != nil {
		b.Fatal(err)
	}
	copyPath := filepath.Join(b.TempDir(), "libykcs11-raw.so")
	if err := os.WriteFile(copyPath, lib, 0o755); err != nil {
		b.Fatal(err)
	}
	raw, err := bench.OpenRaw(copyPath, pb.serial)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	var api, direct []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 10 {
			time.Sleep(300 * time.Millisecond)
			t0 := time.Now()
			var keys protocol.KeysList
			c.mustCall("keys.list", map[string]any{"card": pb.serial}, &keys)
			api = append(api, time.Since(t0))
			if len(keys.Keys) != 2 {
				b.Fatalf("keys: %+v", keys.Keys)
			}
			t0 = time.Now()
			if _, err := raw.ListKeys(); err != nil {
				b.Fatal(err)
			}
			direct = append(direct, time.Since(t0))
		}
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	a, r := p50(api), p50(direct)
	b.ReportMetric(float64(a.Microseconds())/1000, "cardbridge-ms")
	b.ReportMetric(float64(r.Microseconds())/1000, "raw-ms")
	b.ReportMetric(float64((a-r).Microseconds())/1000, "over-raw-ms")
}
