package cache

import (
	"sync"
	"sync/atomic"
)

// ReadMostly is a small bounded map for values looked up on every request
// and added rarely: metric series by label set, rules by the auth URL's
// query. Readers take no lock and allocate nothing (an atomic load and a
// map lookup); a writer copies the map, adds its entry and publishes the
// copy, so writes cost O(n) and suit a key set that stops growing after
// warm-up. Once Bound entries are held, Add refuses new keys: a caller fed
// open-ended keys keeps computing its value on every call instead of
// growing memory. Entries are never removed or replaced.
type ReadMostly[K comparable, V any] struct {
	bound int
	m     atomic.Pointer[map[K]V]
	mu    sync.Mutex // serialises writers: each copies the map the last one published
}

// NewReadMostly makes an empty map holding at most bound entries (a bound
// below 1 holds none).
func NewReadMostly[K comparable, V any](bound int) *ReadMostly[K, V] {
	return &ReadMostly[K, V]{bound: bound}
}

// Get returns the value stored for key.
func (r *ReadMostly[K, V]) Get(key K) (V, bool) {
	if m := r.m.Load(); m != nil {
		v, ok := (*m)[key]
		return v, ok
	}
	var zero V
	return zero, false
}

// Add stores v for key unless key is already present (the first value
// stays, so concurrent callers that computed the same key agree on one) or
// the bound is reached. It returns the value now stored for key, and false
// when nothing is (the bound was reached). A string key that is part of a
// larger buffer (a request) should be cloned by the caller, since the map
// keeps it.
func (r *ReadMostly[K, V]) Add(key K, v V) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.m.Load()
	n := 0
	if cur != nil {
		if old, ok := (*cur)[key]; ok {
			return old, true
		}
		n = len(*cur)
	}
	if n >= r.bound {
		return v, false
	}
	next := make(map[K]V, n+1)
	if cur != nil {
		for k, old := range *cur {
			next[k] = old
		}
	}
	next[key] = v
	r.m.Store(&next)
	return v, true
}

// Full reports whether the bound is reached, so a caller can skip
// preparing an entry (cloning its key) that Add would refuse.
func (r *ReadMostly[K, V]) Full() bool { return r.Len() >= r.bound }

// Len is the number of entries held.
func (r *ReadMostly[K, V]) Len() int {
	if m := r.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
