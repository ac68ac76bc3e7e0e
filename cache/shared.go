package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Shared is a second cache level that replicas share (Redis: package
// redisshare implements it). A Cache asks it only on a local miss, so a
// fresh local hit costs the same with or without it.
//
// Keys are names a Cache builds (Options.SharedName+":"+SharedKey(key));
// an implementation may prefix them (several deployments on one server).
// Every method may fail: the Cache counts the error and carries on as if
// Shared were absent, so an implementation should bound each call.
type Shared interface {
	// Get returns the value stored under key and how long it stays
	// fresh; ok false when absent.
	Get(ctx context.Context, key string) (val []byte, ttl time.Duration, ok bool, err error)
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Claim takes a lock on key for at most ttl (SET NX PX) so that one
	// replica loads a missing key; false: another holds it.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Release drops this replica's claim on key (not another's).
	Release(ctx context.Context, key string) error
	// Invalidate deletes keys and announces each to every subscriber.
	Invalidate(ctx context.Context, keys ...string) error
	// Purge deletes every key starting with prefix and announces the
	// prefix to every subscriber.
	Purge(ctx context.Context, prefix string) error
	// Subscribe calls fn with each announcement, from any replica this
	// one included, until ctx ends (then it returns nil): fn(key, false)
	// for an invalidated key, fn(prefix, true) for a purge. Announcements
	// made while the subscription was down are lost, so each time it is
	// (re)established fn("", true) is called: drop everything. It returns
	// an error only when it cannot go on (the implementation was closed).
	Subscribe(ctx context.Context, fn func(key string, prefix bool)) error
}

// Defaults of the Shared options, and how long Shared is left alone after
// it failed.
const (
	defaultSharedTimeout = 100 * time.Millisecond
	defaultSharedWait    = time.Second
	sharedRetry          = time.Second
	firstPoll, lastPoll  = 5 * time.Millisecond, 50 * time.Millisecond
)

// sharedDefaults checks and completes the Shared options.
func sharedDefaults[K comparable, V any](o *Options[K, V]) error {
	if o.Shared == nil {
		return nil
	}
	if o.SharedName == "" || strings.Contains(o.SharedName, ":") {
		return fmt.Errorf("a shared cache needs a SharedName without ':', not %q", o.SharedName)
	}
	if o.Encode == nil || o.Decode == nil {
		return errors.New("a shared cache needs Encode and Decode")
	}
	var k K
	_, stringKeys := any(k).(string)
	if o.SharedKey == nil {
		if !stringKeys {
			return errors.New("a shared cache of non-string keys needs SharedKey")
		}
		o.SharedKey = func(k K) string { return any(k).(string) }
	}
	if o.ParseSharedKey == nil {
		if !stringKeys {
			return errors.New("a shared cache of non-string keys needs ParseSharedKey")
		}
		o.ParseSharedKey = func(s string) (K, bool) { k, ok := any(s).(K); return k, ok }
	}
	if o.SharedTimeout <= 0 {
		o.SharedTimeout = defaultSharedTimeout
	}
	if o.SharedWait <= 0 {
		o.SharedWait = defaultSharedWait
	}
	return nil
}

// sharedResult is what one look in Shared found.
type sharedResult int

const (
	sharedMiss sharedResult = iota // absent, or a value Decode refused
	sharedHit
	sharedDown // the call failed: leave Shared alone for this miss
)

// loadShared is load with Shared set. On the local miss it asks Shared;
// on a Shared miss it claims the key, so that of all replicas missing it
// one loads, and the others wait (up to SharedWait) for the value to
// appear. It loads when it holds the claim, when the wait ends, and when
// Shared fails; it then shares what it loaded (with the TTL the local
// entry got) after its callers have their answer, and releases the claim.
func (c *Cache[K, V]) loadShared(ctx context.Context, s *shard[K, V], key K, cl *call[V]) {
	name, up := c.sharedName(key)
	up = up && c.sharedUp()
	claimed := false
	if up {
		v, ttl, res := c.sharedGet(ctx, name)
		if res == sharedHit {
			c.settleShared(s, key, cl, v, ttl)
			return
		}
		up = res != sharedDown
	}
	b := c.backoff.Load()
	backingOff := b != nil && c.opts.Now().Before(b.until) && c.callsRemote(ctx, key)
	if up && !backingOff {
		var (
			v   V
			ttl time.Duration
			res sharedResult
		)
		claimed, v, ttl, res = c.claim(ctx, name)
		if claimed {
			// Another replica may have stored the value and released its
			// claim between our Get and our Claim: look once more.
			v, ttl, res = c.sharedGet(ctx, name)
		}
		if res == sharedHit {
			c.settleShared(s, key, cl, v, ttl)
			if claimed {
				c.sharedCall(ctx, func(ctx context.Context) error { return c.opts.Shared.Release(ctx, name) })
			}
			return
		}
		up = res != sharedDown
	}
	if backingOff {
		// The API asked us to wait and Shared had nothing: as without
		// Shared, no call (Get serves what is stale, if anything).
		s.mu.Lock()
		s.finish(key, cl)
		s.mu.Unlock()
		cl.err = fmt.Errorf("%w: %w", ErrBackoff, b.by)
		close(cl.done)
		return
	}
	cl.val, cl.err = c.callLoad(ctx, key)
	ttl := c.settle(s, key, cl)
	close(cl.done)
	if up && cl.err == nil && ttl > 0 { // ttl 0: invalidated while it loaded
		if val, err := c.encode(cl.val); err == nil {
			c.sharedCall(ctx, func(ctx context.Context) error { return c.opts.Shared.Set(ctx, name, val, ttl) })
		}
	}
	if claimed {
		c.sharedCall(ctx, func(ctx context.Context) error { return c.opts.Shared.Release(ctx, name) })
	}
}

// settleShared answers cl with v from Shared, stored locally for the TTL
// Shared has left on it (never more than this cache would give it), so
// no replica believes a value past the TTL its loader gave it; not stored
// when key was invalidated while it was read (see finish).
func (c *Cache[K, V]) settleShared(s *shard[K, V], key K, cl *call[V], v V, ttl time.Duration) {
	c.sharedHits.Add(1)
	now := c.opts.Now()
	s.mu.Lock()
	if s.finish(key, cl) {
		c.store(s, key, v, now.Add(min(ttl, c.ttlOf(v))))
	}
	s.mu.Unlock()
	cl.val = v
	close(cl.done)
}

// claim takes name's claim, or waits for the replica holding it to store
// a value: it polls Shared with growing pauses for up to SharedWait,
// taking the claim itself if it is released with nothing stored (that
// Load failed). claimed reports the claim held; res a value found
// (sharedHit) or a failed call (sharedDown).
func (c *Cache[K, V]) claim(ctx context.Context, name string) (claimed bool, v V, ttl time.Duration, res sharedResult) {
	claimTTL := 2 * c.opts.SharedWait
	try := func() (bool, sharedResult) {
		var got bool
		if !c.sharedCall(ctx, func(ctx context.Context) (err error) {
			got, err = c.opts.Shared.Claim(ctx, name, claimTTL)
			return err
		}) {
			return false, sharedDown
		}
		return got, sharedMiss
	}
	if claimed, res = try(); claimed || res == sharedDown {
		return claimed, v, 0, res
	}
	c.sharedWaits.Add(1)
	deadline := time.Now().Add(c.opts.SharedWait)
	for pause := firstPoll; ; pause = min(2*pause, lastPoll) {
		left := time.Until(deadline)
		if left <= 0 {
			return false, v, 0, sharedMiss
		}
		time.Sleep(min(pause, left))
		if v, ttl, res = c.sharedGet(ctx, name); res != sharedMiss {
			return false, v, ttl, res
		}
		if claimed, res = try(); claimed || res == sharedDown {
			return claimed, v, 0, res
		}
	}
}

// sharedGet looks name up in Shared and decodes what it finds.
func (c *Cache[K, V]) sharedGet(ctx context.Context, name string) (v V, ttl time.Duration, res sharedResult) {
	var (
		raw   []byte
		found bool
	)
	if !c.sharedCall(ctx, func(ctx context.Context) (err error) {
		raw, ttl, found, err = c.opts.Shared.Get(ctx, name)
		return err
	}) {
		return v, 0, sharedDown
	}
	if !found || ttl <= 0 {
		return v, 0, sharedMiss
	}
	v, err := c.decode(raw)
	if err != nil {
		c.sharedErrors.Add(1) // garbage is an error, but Shared is up: load and overwrite it
		return v, 0, sharedMiss
	}
	return v, ttl, sharedHit
}

// sharedCall runs one call to Shared bounded by SharedTimeout, turning a
// panic into an error. On an error it counts it and leaves Shared alone
// for sharedRetry (every miss in that time loads directly), and reports
// false.
func (c *Cache[K, V]) sharedCall(ctx context.Context, call func(context.Context) error) bool {
	ctx, cancel := context.WithTimeout(ctx, c.opts.SharedTimeout)
	defer cancel()
	if err := guard(func() error { return call(ctx) }); err != nil {
		c.sharedErrors.Add(1)
		c.sharedOffUntil.Store(time.Now().Add(sharedRetry).UnixNano())
		return false
	}
	return true
}

// sharedUp reports that Shared has not failed in the last sharedRetry.
func (c *Cache[K, V]) sharedUp() bool {
	return time.Now().UnixNano() >= c.sharedOffUntil.Load()
}

// sharedName is key's name in Shared; false when SharedKey panicked.
func (c *Cache[K, V]) sharedName(key K) (name string, ok bool) {
	err := guard(func() error {
		name = c.opts.SharedName + ":" + c.opts.SharedKey(key)
		return nil
	})
	return name, err == nil
}

func (c *Cache[K, V]) encode(v V) (b []byte, err error) {
	err = guard(func() (err error) { b, err = c.opts.Encode(v); return err })
	return b, err
}

func (c *Cache[K, V]) decode(b []byte) (v V, err error) {
	err = guard(func() (err error) { v, err = c.opts.Decode(b); return err })
	return v, err
}

// guard runs f, turning a panic into an error.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// Invalidate forgets key here and, with Shared, deletes it there and
// tells every replica following it (Follow) to forget it too: for a
// webhook saying the answer changed. The local entry is gone even when
// the error (Shared could not be told) is not nil; a caller that can
// retry (a webhook answered 5xx is sent again) should.
func (c *Cache[K, V]) Invalidate(ctx context.Context, key K) error {
	c.Delete(key)
	if c.opts.Shared == nil {
		return nil
	}
	name, ok := c.sharedName(key)
	if !ok {
		return errors.New("invalidate: SharedKey panicked")
	}
	if err := guard(func() error { return c.opts.Shared.Invalidate(ctx, name) }); err != nil {
		c.sharedErrors.Add(1)
		return fmt.Errorf("invalidate %s in the shared cache: %w", name, err)
	}
	return nil
}

// Purge forgets every entry here and, with Shared, deletes this cache's
// keys there (SharedName's) and tells every replica following it to
// forget all of its entries. The local entries are gone even on an error.
func (c *Cache[K, V]) Purge(ctx context.Context) error {
	c.purgeLocal()
	if c.opts.Shared == nil {
		return nil
	}
	prefix := c.opts.SharedName + ":"
	if err := guard(func() error { return c.opts.Shared.Purge(ctx, prefix) }); err != nil {
		c.sharedErrors.Add(1)
		return fmt.Errorf("purge %s* in the shared cache: %w", prefix, err)
	}
	return nil
}

// Follow applies the invalidations and purges announced through Shared
// (by any replica) to this cache until ctx ends; run it on a goroutine of
// its own for as long as the cache is used. Without Shared it returns at
// once. Every time the subscription is (re)established the local entries
// are dropped, since announcements made while it was down are lost.
func (c *Cache[K, V]) Follow(ctx context.Context) error {
	if c.opts.Shared == nil {
		return nil
	}
	return c.opts.Shared.Subscribe(ctx, c.announced)
}

// announced applies one announcement from Subscribe.
func (c *Cache[K, V]) announced(name string, prefix bool) {
	ns := c.opts.SharedName + ":"
	if prefix {
		if strings.HasPrefix(ns, name) || strings.HasPrefix(name, ns) {
			c.purgeLocal() // a purge of part of this cache drops all of it
		}
		return
	}
	rest, ok := strings.CutPrefix(name, ns)
	if !ok {
		return
	}
	var key K
	if guard(func() error { key, ok = c.opts.ParseSharedKey(rest); return nil }) != nil || !ok {
		c.purgeLocal() // cannot tell which entry: drop them all
		return
	}
	c.Delete(key)
}

// purgeLocal drops every local entry.
func (c *Cache[K, V]) purgeLocal() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.lru.Purge()
		clear(s.inflight) // as Delete does
		s.mu.Unlock()
	}
}
