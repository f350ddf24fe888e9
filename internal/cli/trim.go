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
//
// It also releases the executable's code pages that start-up mapped (see
// releaseCodePages): once when start-up is over (the tray and the first
// card scan included), and again after each quiet interval; pages in use
// are mapped back within moments.
func trimWhenIdle(ctx context.Context, every time.Duration, quiet, pile uint64) {
	startedUp := time.NewTimer(min(every, 5*time.Second))
	defer startedUp.Stop()
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
		case <-startedUp.C:
			releaseCodePages()
			continue
		case <-t.C:
		}
		now := allocated()
		if now-last < quiet {
			if now-trimmed >= pile {
				debug.FreeOSMemory()
				now = allocated()
				trimmed = now
			}
			releaseCodePages()
		}
		last = now
	}
}
