package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
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
	// Size bounds the number of entries (least recently used go first,
	// within their shard when the cache is sharded).
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
	// CallsRemote reports whether loading key calls the remote API, with
	// the caller's context; a back-off holds back only the loads that do.
	// nil: every load does. (The machine credential cache holds JWTs
	// verified with local keys beside opaque tokens Clerk verifies: a
	// rate limit on the latter must not stop the former.)
	CallsRemote func(ctx context.Context, key K) bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	// Shared is a second level that replicas share (Redis, see package
	// redisshare), asked on a local miss before Load; nil (the default)
	// keeps every answer in this process. A fresh local hit never reaches
	// it. The fields below matter only when it is set.
	Shared Shared
	// SharedName names this cache's keys in Shared ("memberships"): each
	// is SharedName+":"+SharedKey(key), and Purge drops those only. It is
	// required with Shared and may not contain ':'.
	SharedName string
	// SharedKey is key's name within SharedName; for string keys it
	// defaults to the key itself.
	SharedKey func(K) string
	// ParseSharedKey is SharedKey's inverse, used to drop the local entry
	// another replica invalidated; for string keys it defaults to the
	// identity. A name it cannot parse drops every local entry.
	ParseSharedKey func(string) (K, bool)
	// Encode and Decode turn values into Shared's bytes and back; both are
	// required with Shared. An Encode error means "do not share this
	// value"; a Decode error (or panic) is counted in SharedErrors and the
	// key is loaded as if Shared had missed.
	Encode func(V) ([]byte, error)
	Decode func([]byte) (V, error)
	// SharedTimeout bounds each Shared call on a miss; default 100 ms.
	SharedTimeout time.Duration
	// SharedWait bounds how long a miss waits for another replica that
	// claimed the key to store its answer, before loading itself;
	// default 1 s.
	SharedWait time.Duration
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
	SharedHits        uint64 // misses answered by Shared (another replica's Load)
	SharedWaits       uint64 // misses that waited for another replica's Load (lost the claim)
	SharedErrors      uint64 // Shared calls that failed or timed out, and values Decode refused
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

func (c *Cache[K, V]) callsRemote(ctx context.Context, key K) bool {
	return c.opts.CallsRemote == nil || c.opts.CallsRemote(ctx, key)
}

// Sharding. A cache of fewer than minShardEntries×2 entries is one exact
// LRU; a larger one is split into up to maxShards LRUs by a hash of the
// key, each with its own lock and counters, so lookups on different cores
// do not queue on one mutex or bounce one cache line: with one lock a
// lookup got slower with every core added (BenchmarkGetHitParallel in
// bench/README.md). Eviction is then least-recently-used within a shard;
// the shards' sizes add up to Size exactly.
const (
	maxShards       = 32
	minShardEntries = 256
)

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	opts    Options[K, V]
	seed    maphash.Seed
	shards  []shard[K, V]
	backoff atomic.Pointer[backoff] // nil or a past time: loads allowed

	// With Options.Shared: counters, and until when (UnixNano) Shared is
	// skipped after it failed, so an outage costs one timeout a second
	// rather than one a miss.
	sharedHits, sharedWaits, sharedErrors atomic.Uint64
	sharedOffUntil                        atomic.Int64
}

// backoff is a wait the remote API asked for; it stops loads for every key.
type backoff struct {
	until time.Time
	by    error
}

type shard[K comparable, V any] struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[K, *entry[V]]
	inflight map[K]*call[V]

	hits, misses, stale, evictions, coalesced, loadErrors, backoffs atomic.Uint64
	_                                                               [64]byte // the next shard's lock and counters on another cache line
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
	if err := sharedDefaults(&opts); err != nil {
		return nil, err
	}
	n := min(maxShards, max(1, opts.Size/minShardEntries))
	c := &Cache[K, V]{opts: opts, seed: maphash.MakeSeed(), shards: make([]shard[K, V], n)}
	for i := range c.shards {
		size := opts.Size / n
		if i < opts.Size%n {
			size++
		}
		l, err := simplelru.NewLRU[K, *entry[V]](size, nil)
		if err != nil {
			return nil, fmt.Errorf("lru: %w", err)
		}
		c.shards[i].lru, c.shards[i].inflight = l, map[K]*call[V]{}
	}
	return c, nil
}

// shard is key's shard.
func (c *Cache[K, V]) shard(key K) *shard[K, V] {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.Comparable(c.seed, key)%uint64(len(c.shards))]
}

// Get returns the value for key: a fresh entry, else the result of one
// (shared) Load; when that fails, an entry still inside its stale window;
// else the error.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	now := c.opts.Now()
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.lru.Get(key)
	if ok && now.Before(e.freshUntil) {
		s.mu.Unlock()
		s.hits.Add(1)
		return e.value, nil
	}
	if ok && !now.Before(e.staleUntil) {
		s.lru.Remove(key) // past any use
		e, ok = nil, false
	}
	s.misses.Add(1)
	if b := c.backoff.Load(); b != nil && now.Before(b.until) && (ok || c.opts.Shared == nil) && c.callsRemote(ctx, key) {
		// The API asked us to wait: no call, stale or nothing. (With
		// Shared and nothing stale, the load below asks Shared only.)
		s.mu.Unlock()
		if ok {
			s.stale.Add(1)
			return e.value, nil
		}
		var zero V
		return zero, fmt.Errorf("%w: %w", ErrBackoff, b.by)
	}
	cl, joined := s.inflight[key]
	if !joined {
		cl = &call[V]{done: make(chan struct{})}
		s.inflight[key] = cl
	}
	s.mu.Unlock()

	if joined {
		s.coalesced.Add(1)
	} else {
		go c.load(context.WithoutCancel(ctx), s, key, cl)
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
		s.stale.Add(1)
		return e.value, nil
	}
	var zero V
	return zero, cl.err
}

// Fresh returns key's value when a fresh entry holds it (a hit), and
// never loads: for a caller whose Load needs values that cost something
// to put on the context, which Get would build on every hit.
func (c *Cache[K, V]) Fresh(key K) (V, bool) {
	now := c.opts.Now()
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.lru.Get(key)
	s.mu.Unlock()
	if !ok || !now.Before(e.freshUntil) {
		var zero V
		return zero, false
	}
	s.hits.Add(1)
	return e.value, true
}

// load runs Load once for every caller waiting on cl and stores the result
// in key's shard s. It runs on its own goroutine so a caller that gives up
// does not cancel the others' answer. With Shared, it asks Shared first
// and shares what it loaded (see shared.go).
func (c *Cache[K, V]) load(ctx context.Context, s *shard[K, V], key K, cl *call[V]) {
	if c.opts.Shared != nil {
		c.loadShared(ctx, s, key, cl)
		return
	}
	defer close(cl.done)
	cl.val, cl.err = c.callLoad(ctx, key)
	c.settle(s, key, cl)
}

// callLoad runs Load, turning a panic into an error.
func (c *Cache[K, V]) callLoad(ctx context.Context, key K) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cache load panicked: %v", r)
		}
	}()
	return c.opts.Load(ctx, key)
}

// settle ends cl's Load: it counts an error (starting a back-off on a
// Retry-After) or stores the value (unless key was deleted meanwhile), and
// returns the TTL the entry got (0 when nothing was stored).
func (c *Cache[K, V]) settle(s *shard[K, V], key K, cl *call[V]) time.Duration {
	now := c.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.finish(key, cl)
	if cl.err != nil {
		s.loadErrors.Add(1)
		if c.opts.RetryAfter != nil {
			if wait := min(c.opts.RetryAfter(cl.err), maxBackoff); wait > 0 {
				s.backoffs.Add(1)
				c.backOff(now.Add(wait), cl.err)
			}
		}
		return 0
	}
	if !current {
		return 0
	}
	ttl := c.ttlOf(cl.val)
	c.store(s, key, cl.val, now.Add(ttl))
	return ttl
}

// finish removes cl from the loads in flight; s.mu is held. False: a
// Delete or purge of key came while it ran and already removed it, so its
// answer may predate what the invalidation announced: its callers have it,
// but it must not be stored (nor shared) to outlive the invalidation.
func (s *shard[K, V]) finish(key K, cl *call[V]) bool {
	if s.inflight[key] != cl {
		return false
	}
	delete(s.inflight, key)
	return true
}

// ttlOf is the TTL an answer gets: NegativeTTL for a negative one.
func (c *Cache[K, V]) ttlOf(v V) time.Duration {
	if c.opts.IsNegative != nil && c.opts.IsNegative(v) {
		return c.opts.NegativeTTL
	}
	return c.opts.TTL
}

// store adds an entry fresh until fresh; s.mu is held.
func (c *Cache[K, V]) store(s *shard[K, V], key K, v V, fresh time.Time) {
	if s.lru.Add(key, &entry[V]{value: v, freshUntil: fresh, staleUntil: fresh.Add(c.opts.StaleWindow)}) {
		s.evictions.Add(1)
	}
}

// backOff stops loads until until, unless a later back-off is in place.
func (c *Cache[K, V]) backOff(until time.Time, by error) {
	next := &backoff{until: until, by: by}
	for {
		cur := c.backoff.Load()
		if cur != nil && !until.After(cur.until) {
			return
		}
		if c.backoff.CompareAndSwap(cur, next) {
			return
		}
	}
}

// Delete forgets key in this process only; Invalidate also tells the
// other replicas.
func (c *Cache[K, V]) Delete(key K) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(key)
	delete(s.inflight, key) // a load in flight may have read the old answer: see finish
}

// Len is the number of entries held.
func (c *Cache[K, V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}

// Stats returns the counters, summed over the shards.
func (c *Cache[K, V]) Stats() Stats {
	var st Stats
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.StaleServes += s.stale.Load()
		st.Evictions += s.evictions.Load()
		st.CoalescedWaits += s.coalesced.Load()
		st.LoaderErrors += s.loadErrors.Load()
		st.RateLimitBackoffs += s.backoffs.Load()
	}
	st.SharedHits = c.sharedHits.Load()
	st.SharedWaits = c.sharedWaits.Load()
	st.SharedErrors = c.sharedErrors.Load()
	st.Entries = c.Len()
	return st
}
