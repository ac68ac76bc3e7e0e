package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ErrBackoff is returned (wrapped with the error that started the back-off)
// when the remote API asked us to wait and nothing usable is cached.
var ErrBackoff = errors.New("backing off after a rate limit")

// maxBackoff bounds a Retry-After: a wrong or hostile value must not stop
// lookups for hours. Clerk's window is 10 s.
const maxBackoff = time.Minute

// Options configure a Cache.
type Options[K comparable, V any] struct {
	// Size bounds the number of entries (least recently used go first).
	Size int
	// TTL is how long an answer is served without asking again.
	TTL time.Duration
	// NegativeTTL replaces TTL for answers IsNegative reports; 0 means TTL.
	NegativeTTL time.Duration
	// StaleWindow is how long past its TTL an entry may still be served
	// when Load fails or we are backing off. 0 disables stale serving.
	StaleWindow time.Duration
	// Load fetches the value for a key. It runs with the first caller's
	// context values but without its cancellation, since other callers
	// may be waiting on the same call; it should carry its own timeout.
	Load func(ctx context.Context, key K) (V, error)
	// IsNegative reports a "nothing there" answer (optional).
	IsNegative func(V) bool
	// RetryAfter extracts a back-off from a Load error (a 429's
	// Retry-After); 0 means none (optional).
	RetryAfter func(error) time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Stats are cumulative counters since the cache was made, plus its size.
type Stats struct {
	Hits              uint64 // fresh entry served
	Misses            uint64 // no fresh entry: the caller needed a Load (own or joined)
	StaleServes       uint64 // expired entry served because Load failed or we were backing off
	Evictions         uint64 // entries dropped to respect Size
	CoalescedWaits    uint64 // callers that waited for another caller's Load
	LoaderErrors      uint64 // Load calls that failed
	RateLimitBackoffs uint64 // Load errors that started a back-off (429 + Retry-After)
	Entries           int    // entries held now
}

type entry[V any] struct {
	value      V
	freshUntil time.Time
	staleUntil time.Time
}

// call is one Load in flight; waiters block on done.
type call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	opts Options[K, V]

	mu           sync.Mutex
	lru          *simplelru.LRU[K, *entry[V]]
	inflight     map[K]*call[V]
	blockedUntil time.Time
	blockedBy    error

	hits, misses, stale, evictions, coalesced, loadErrors, backoffs atomic.Uint64
}

// New builds a cache. Size must be positive and Load set.
func New[K comparable, V any](opts Options[K, V]) (*Cache[K, V], error) {
	if opts.Size <= 0 {
		return nil, fmt.Errorf("cache size must be positive, not %d", opts.Size)
	}
	if opts.TTL <= 0 {
		return nil, fmt.Errorf("cache TTL must be positive, not %s", opts.TTL)
	}
	if opts.Load == nil {
		return nil, errors.New("cache needs a Load function")
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = opts.TTL
	}
	if opts.StaleWindow < 0 {
		opts.StaleWindow = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l, err := simplelru.NewLRU[K, *entry[V]](opts.Size, nil)
	if err != nil {
		return nil, fmt.Errorf("lru: %w", err)
	}
	return &Cache[K, V]{opts: opts, lru: l, inflight: map[K]*call[V]{}}, nil
}

// Get returns the value for key: a fresh entry, else the result of one
// (shared) Load; when that fails, an entry still inside its stale window;
// else the error.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	now := c.opts.Now()
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	if ok && now.Before(e.freshUntil) {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.value, nil
	}
	if ok && !now.Before(e.staleUntil) {
		c.lru.Remove(key) // past any use
		e, ok = nil, false
	}
	c.misses.Add(1)
	if now.Before(c.blockedUntil) {
		// The API asked us to wait: no call, stale or nothing.
		blockedBy := c.blockedBy
		c.mu.Unlock()
		if ok {
			c.stale.Add(1)
			return e.value, nil
		}
		var zero V
		return zero, fmt.Errorf("%w: %w", ErrBackoff, blockedBy)
	}
	cl, joined := c.inflight[key]
	if !joined {
		cl = &call[V]{done: make(chan struct{})}
		c.inflight[key] = cl
	}
	c.mu.Unlock()

	if joined {
		c.coalesced.Add(1)
	} else {
		go c.load(context.WithoutCancel(ctx), key, cl)
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		var zero V
		return zero, fmt.Errorf("waiting for lookup: %w", ctx.Err())
	}
	if cl.err == nil {
		return cl.val, nil
	}
	if ok && c.opts.Now().Before(e.staleUntil) {
		c.stale.Add(1)
		return e.value, nil
	}
	var zero V
	return zero, cl.err
}

// load runs Load once for every caller waiting on cl and stores the result.
// It runs on its own goroutine so a caller that gives up does not cancel
// the others' answer.
func (c *Cache[K, V]) load(ctx context.Context, key K, cl *call[V]) {
	defer close(cl.done)
	func() {
		defer func() {
			if r := recover(); r != nil {
				cl.err = fmt.Errorf("cache load panicked: %v", r)
			}
		}()
		cl.val, cl.err = c.opts.Load(ctx, key)
	}()
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, key)
	if cl.err != nil {
		c.loadErrors.Add(1)
		if c.opts.RetryAfter != nil {
			if wait := min(c.opts.RetryAfter(cl.err), maxBackoff); wait > 0 {
				c.backoffs.Add(1)
				if until := now.Add(wait); until.After(c.blockedUntil) {
					c.blockedUntil, c.blockedBy = until, cl.err
				}
			}
		}
		return
	}
	ttl := c.opts.TTL
	if c.opts.IsNegative != nil && c.opts.IsNegative(cl.val) {
		ttl = c.opts.NegativeTTL
	}
	fresh := now.Add(ttl)
	if c.lru.Add(key, &entry[V]{value: cl.val, freshUntil: fresh, staleUntil: fresh.Add(c.opts.StaleWindow)}) {
		c.evictions.Add(1)
	}
}

// Delete forgets key (e.g. on a "membership removed" webhook).
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
}

// Len is the number of entries held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Stats returns the counters.
func (c *Cache[K, V]) Stats() Stats {
	return Stats{
		Hits:              c.hits.Load(),
		Misses:            c.misses.Load(),
		StaleServes:       c.stale.Load(),
		Evictions:         c.evictions.Load(),
		CoalescedWaits:    c.coalesced.Load(),
		LoaderErrors:      c.loadErrors.Load(),
		RateLimitBackoffs: c.backoffs.Load(),
		Entries:           c.Len(),
	}
}
