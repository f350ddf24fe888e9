package cli

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// trimWhenIdle hands the Go heap back to the system while the daemon
// idles. Polling the readers allocates a little every half second, and
// the runtime lets the heap grow to its 4 MB minimum goal before it
// collects, so an idle tray would creep up by that much. When an interval
// allocates little (nobody is using the daemon) but enough has piled up
// since the last trim, one collection and scavenge puts the memory back:
// about a millisecond of CPU every few minutes.
func trimWhenIdle(ctx context.Context, every time.Duration, quiet, pile uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	last := allocated()
	trimmed := last
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := allocated()
		if now-last < quiet && now-trimmed >= pile {
			debug.FreeOSMemory()
			now = allocated()
			trimmed = now
		}
		last = now
	}
}
