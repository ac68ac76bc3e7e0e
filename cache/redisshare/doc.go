// Package redisshare is cache.Shared on Redis (or Valkey): the second
// cache level that the service's replicas share, so N replicas make about
// one Backend API call per key and TTL instead of N, and an invalidation
// (a Clerk webhook) reaches every replica.
//
//	st, err := redisshare.Open(ctx, os.Getenv("REDIS_URL"), redisshare.Options{})
//	c, err := cache.New(cache.Options[string, V]{…, Shared: st, SharedName: "memberships", Encode: …, Decode: …})
//	go c.Follow(ctx) // apply other replicas' invalidations
//
// Client. It uses github.com/redis/go-redis/v9 over RESP2, not rueidis or
// go-redis's own RESP3 client-side caching: the local LRU in package cache
// already is the client-side cache (a fresh hit never leaves the process),
// so server-assisted tracking would keep a second copy of the same entries
// and cost a connection's worth of invalidation pushes. The invalidation
// we need is explicit (webhook events, revoked sessions, a purge) and
// needs pub/sub either way.
//
// Bounds. Every call is bounded by Options.Timeout (default 100 ms),
// dialling included, with no retries: a slow or unreachable Redis costs a
// decision at most that per call, and package cache then leaves it alone
// for a second and loads from Clerk directly. Nothing here ever blocks a
// request for longer.
//
// Layout, under Options.Prefix (default "cfa:", so deployments can share a
// server): values at <prefix>v:<key> with a PX expiry (their TTL), claims
// at <prefix>c:<key> holding a random id of the Store that took them,
// remembered sets at <prefix>s:<set> (a sorted set scored by each member's
// expiry in Unix milliseconds), and announcements on the channel
// <prefix>invalidate as "k:<key>" (a key) or "p:<prefix>" (a purge).
// Purge walks the keys with SCAN (on every master of a cluster), so it
// costs O(keys) and is meant for rare, operator-driven purges.
//
// Topologies. One server (or a managed endpoint), a master found through
// Redis Sentinel (a URL with master_name), or a Redis Cluster
// (Options.Cluster). In a cluster each key is on the node of its slot;
// every command here names one key (Invalidate and Purge send one UNLINK
// per key), the scripts touch one key each, and announcements use classic
// pub/sub, which a cluster delivers to subscribers on every node.
//
// Trust. Whatever Redis holds is believed as Clerk's answer (memberships,
// profiles, machine-token verdicts): anyone who can write to it can grant
// access. Use a Redis reachable only by the service, with a password or
// ACL user, over rediss:// when it crosses a network.
package redisshare
