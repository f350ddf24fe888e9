package token

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache keeps what was read from cards for a short while, by key, with one
// load in flight per key: when pages poll and a write has just dropped an
// entry, one caller reads the card and the others wait for its answer.
//
// Dropping a key bumps its epoch. A load remembers the epoch it started in
// and is neither stored nor shared with callers that arrive after a drop,
// so a read that began before a write can never be served after it.
type cache[T any] struct {
	ttl    time.Duration
	flight singleflight.Group

	mu      sync.Mutex
	entries map[string]cacheEntry[T]
	epochs  map[string]uint64
	all     uint64 // bumped by dropAll
}

type cacheEntry[T any] struct {
	at    time.Time
	epoch uint64
	val   T
}

func newCache[T any](ttl time.Duration) *cache[T] {
	return &cache[T]{ttl: ttl, entries: map[string]cacheEntry[T]{}, epochs: map[string]uint64{}}
}

// epoch is the key's epoch; the caller holds c.mu.
func (c *cache[T]) epoch(key string) uint64 { return c.epochs[key] + c.all }

// get returns the entry for key if it is fresh, or loads it.
func (c *cache[T]) get(key string, load func() (T, error)) (T, error) {
	return c.within(key, c.ttl, load)
}

// within is get for a caller content with an entry up to maxAge old.
func (c *cache[T]) within(key string, maxAge time.Duration, load func() (T, error)) (T, error) {
	c.mu.Lock()
	ep := c.epoch(key)
	if e, ok := c.entries[key]; ok && e.epoch == ep && time.Since(e.at) < maxAge {
		c.mu.Unlock()
		return e.val, nil
	}
	c.mu.Unlock()
	v, err, _ := c.flight.Do(fmt.Sprintf("%d\x00%s", ep, key), func() (any, error) {
		v, err := load()
		if err != nil {
			return v, err
		}
		c.mu.Lock()
		if c.epoch(key) == ep {
			c.entries[key] = cacheEntry[T]{at: time.Now(), epoch: ep, val: v}
		}
		c.mu.Unlock()
		return v, nil
	})
	return v.(T), err
}

// drop forgets key.
func (c *cache[T]) drop(key string) {
	c.mu.Lock()
	c.epochs[key]++
	delete(c.entries, key)
	c.mu.Unlock()
}

// dropAll forgets every key.
func (c *cache[T]) dropAll() {
	c.mu.Lock()
	c.all++
	clear(c.entries)
	c.mu.Unlock()
}
