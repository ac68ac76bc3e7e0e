// Package cache is a bounded, TTL'd, read-through cache for answers from a
// rate-limited remote API (Clerk's Backend API), over golang-lru/v2:
//
//	c, err := cache.New(cache.Options[string, []Membership]{
//		Size: 10000, TTL: 30 * time.Second, NegativeTTL: 10 * time.Second,
//		StaleWindow: 2 * time.Minute,
//		Load:        func(ctx context.Context, userID string) ([]Membership, error) { … },
//		IsNegative:  func(v []Membership) bool { return len(v) == 0 },
//		RetryAfter:  func(err error) time.Duration { … }, // from a 429's Retry-After
//	})
//	ms, err := c.Get(ctx, userID)
//
// What it adds to an LRU:
//   - TTL, and a shorter TTL for negative answers ("no memberships", "no such
//     user"), so a user just added to an organization waits less.
//   - Request coalescing: concurrent misses for one key make one Load call;
//     a cold start with a thousand requests for one user is one API call.
//   - Stale-if-error: when Load fails (or the API asked us to back off), an
//     expired entry is still served for StaleWindow past its TTL. The window
//     is bounded so a revoked membership cannot outlive an outage for long.
//   - Back-off: a Load error that carries a Retry-After (429) stops every
//     Load, for every key, until it passes; the rate limit is per instance.
//   - Counters for metrics (Stats), updated atomically.
//   - Shards: from 512 entries on, the cache is up to 32 LRUs chosen by a
//     hash of the key, each with its own lock and counters, so cores do
//     not queue on one mutex (eviction is then least-recently-used within
//     a shard; the shards hold Size entries in all).
//   - Optionally, a second level shared by replicas (Options.Shared; Redis
//     in package redisshare, see shared.go): a local miss asks it before
//     Load, one replica loads a key all of them miss, Invalidate and Purge
//     reach every replica following it (Follow). It is never on the path
//     of a fresh local hit, and any failure of it means loading as if it
//     were not there.
//
// ReadMostly is the other, smaller kind: a bounded map with lock-free
// reads for values computed once and looked up on every request (metric
// series by label set, parsed rules by query), with no TTL or loader.
package cache
