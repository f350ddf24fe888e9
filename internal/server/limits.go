package server

import (
	"context"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Limits bound what pages can make the daemon hold: sockets, time and
// memory. A page is untrusted until the user allowed it, and even then a
// tab can loop; none of these is reached by a page that works normally.
type Limits struct {
	// MaxConns caps open WebSockets in all; MaxConnsPerOrigin caps those
	// of one origin, so that one site cannot take every slot.
	MaxConns, MaxConnsPerOrigin int
	// PingInterval is how often the daemon pings a page; a page whose
	// browser has not answered (or sent anything) within PongWait is
	// gone, and its socket is closed.
	PingInterval, PongWait time.Duration
	// IdleTimeout closes a socket that has sent no frame for this long,
	// has no request running and is not subscribed to events.
	IdleTimeout time.Duration
	// FrameTimeout is how long a frame, once started, may take to arrive
	// in full: a frame trickled in a byte at a time is cut.
	FrameTimeout time.Duration
	// MaxBytesInFlight bounds the bytes of request frames held at once
	// over all connections, from reading until their answer is written.
	// Readers wait (and the peers' TCP windows fill) beyond it.
	MaxBytesInFlight int64
}

// DefaultLimits are the daemon's limits. An idle WebSocket costs about
// 20 KB, so the total cap is under 100 MB however the sockets are spread.
var DefaultLimits = Limits{
	MaxConns:          4000,
	MaxConnsPerOrigin: 1000,
	PingInterval:      30 * time.Second,
	PongWait:          70 * time.Second,
	IdleTimeout:       10 * time.Minute,
	FrameTimeout:      60 * time.Second,
	MaxBytesInFlight:  64 << 20,
}

// budget is a counting semaphore of bytes.
type budget struct {
	mu   sync.Mutex
	used int64
	max  int64
	wake chan struct{}
}

func newBudget(max int64) *budget {
	if max < 2*hardFrameLimit/8 {
		max = 2 * hardFrameLimit / 8 // room for at least two full frames
	}
	return &budget{max: max, wake: make(chan struct{})}
}

// acquire takes n bytes, waiting while they are not there.
func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// connCount counts open WebSockets in all and per origin.
type connCount struct {
	mu       sync.Mutex
	total    int
	byOrigin map[string]int
}

// take reserves a slot for origin, or says why there is none.
func (c *connCount) take(origin string, l Limits) *protocol.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byOrigin == nil {
		c.byOrigin = map[string]int{}
	}
	if c.total >= l.MaxConns {
		return protocol.Errorf(protocol.CodeBusy, "cardbridge has %d connections open; close some pages", c.total)
	}
	if c.byOrigin[origin] >= l.MaxConnsPerOrigin {
		return protocol.Errorf(protocol.CodeBusy, "%s has %d connections open; close some of its pages", origin, c.byOrigin[origin])
	}
	c.total++
	c.byOrigin[origin]++
	return nil
}

func (c *connCount) drop(origin string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byOrigin[origin]--; c.byOrigin[origin] <= 0 {
		delete(c.byOrigin, origin)
	}
}
