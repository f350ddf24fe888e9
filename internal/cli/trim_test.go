package cli

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"
)

// burst is where the test's garbage goes, so that the compiler keeps it.
var burst [][]byte

// TestTrimWhenIdle checks that garbage left by a burst is handed back to
// the system once the daemon goes quiet, and that the trimmer stops with
// its context.
func TestTrimWhenIdle(t *testing.T) {
	forced := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := forced()
	go func() { trimWhenIdle(ctx, 20*time.Millisecond, 1<<30, 1<<20); close(done) }()
	for range 64 {
		burst = append(burst, make([]byte, 64<<10)) // a 4 MiB burst
	}
	burst = nil
	for deadline := time.Now().Add(10 * time.Second); forced() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no forced collection after the burst")
		}
	}
	cancel()
	<-done

	// Busy (every interval allocates more than quiet): no trim.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go trimWhenIdle(ctx, 5*time.Millisecond, 0, 1)
	before = forced()
	for range 40 {
		burst = append(burst, make([]byte, 64<<10))
		time.Sleep(5 * time.Millisecond)
	}
	if forced() != before {
		t.Error("trimmed while busy")
	}
}
