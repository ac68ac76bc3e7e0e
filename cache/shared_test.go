package cache_test

// The shared level against a real redis-server: several caches on one
// Redis stand for the replicas of a deployment.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare/redistest"
	"github.com/clerk-forward-auth/clerk-forward-auth/internal/testclock"
)

// origin is the remote API every replica loads from.
type origin struct {
	calls atomic.Int64
	delay time.Duration
	hold  chan struct{} // when set, every load waits for it to close
	mu    sync.Mutex
	err   error
}

func (o *origin) load(_ context.Context, key string) (string, error) {
	o.calls.Add(1)
	time.Sleep(o.delay)
	if o.hold != nil {
		<-o.hold
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return "", o.err
	}
	return "value-of-" + key, nil
}

func (o *origin) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = err
}

// watched is a Shared that counts (re)subscriptions, so a test knows a
// replica is following before it relies on it.
type watched struct {
	cache.Shared
	subscribed atomic.Int64
	heard      atomic.Int64 // announcements applied, (re)subscriptions included
}

func (w *watched) Subscribe(ctx context.Context, fn func(string, bool)) error {
	return w.Shared.Subscribe(ctx, func(key string, prefix bool) {
		fn(key, prefix)
		if key == "" && prefix {
			w.subscribed.Add(1)
		}
		w.heard.Add(1)
	})
}

type replica struct {
	*cache.Cache[string, string]
	store *redisshare.Store
	w     *watched
}

type setup struct {
	ttl    time.Duration
	now    func() time.Time
	follow bool
}

func decode(b []byte) (string, error) {
	if !strings.HasPrefix(string(b), "value-of-") {
		return "", fmt.Errorf("not a value: %q", b)
	}
	return string(b), nil
}

// replicas makes n caches over one Redis, each with its own Store (its
// own connections, as separate processes would have), loading from o.
func replicas(t testing.TB, srv *redistest.Server, o *origin, n int, s setup) []replica {
	t.Helper()
	if s.ttl == 0 {
		s.ttl = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rs := make([]replica, n)
	for i := range rs {
		st, err := redisshare.Open(ctx, srv.URL(), redisshare.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		w := &watched{Shared: st}
		c, err := cache.New(cache.Options[string, string]{
			Size: 1000, TTL: s.ttl, NegativeTTL: s.ttl / 2, StaleWindow: time.Minute,
			Load: o.load, Now: s.now, RetryAfter: retryAfter,
			Shared: w, SharedName: "test",
			Encode: func(v string) ([]byte, error) { return []byte(v), nil },
			Decode: decode,
		})
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = replica{Cache: c, store: st, w: w}
		if s.follow {
			go func() { _ = c.Follow(ctx) }()
		}
	}
	if s.follow {
		for _, r := range rs {
			r.waitSubscribed(t, 1)
		}
	}
	return rs
}

func (r replica) waitSubscribed(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.w.subscribed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("replica not subscribed (%d times, want %d)", r.w.subscribed.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t testing.TB, c *cache.Cache[string, string], key string) {
	t.Helper()
	v, err := c.Get(context.Background(), key)
	if err != nil || v != "value-of-"+key {
		t.Fatalf("Get(%q) = %q, %v", key, v, err)
	}
}

func total(rs []replica, f func(cache.Stats) uint64) uint64 {
	var n uint64
	for _, r := range rs {
		n += f(r.Stats())
	}
	return n
}

// eventually waits up to 1 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 1 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inRedis waits until name is in store: a load is shared after its
// callers have their answer, so a test that reads it from another replica
// next must wait for it.
func inRedis(t *testing.T, store *redisshare.Store, name, want string) {
	t.Helper()
	eventually(t, name+" stored in Redis", func() bool {
		b, _, ok, err := store.Get(context.Background(), name)
		return err == nil && ok && string(b) == want
	})
}

type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string { return "429 too many requests" }

func retryAfter(err error) time.Duration {
	var rl *rateLimited
	if errors.As(err, &rl) {
		return rl.wait
	}
	return 0
}

// (a)
func TestConcurrentMissesAcrossReplicasMakeOneLoadPerTTL(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{delay: 100 * time.Millisecond}
	const ttl = time.Second
	rs := replicas(t, srv, o, 3, setup{ttl: ttl})
	burst := func() {
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() { get(t, rs[i%len(rs)].Cache, "user_1") })
		}
		wg.Wait()
	}
	burst()
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("%d loads for 1,000 concurrent misses on 3 replicas, want 1", n)
	}
	if hits := total(rs, func(s cache.Stats) uint64 { return s.SharedHits }); hits != 2 {
		t.Fatalf("%d shared hits, want the 2 replicas that did not load", hits)
	}
	burst() // within the TTL: all local hits
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("%d loads within the TTL, want 1", n)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	burst()
	if n := o.calls.Load(); n != 2 {
		t.Fatalf("%d loads over two TTLs, want 2", n)
	}
	if e := total(rs, func(s cache.Stats) uint64 { return s.SharedErrors }); e != 0 {
		t.Fatalf("%d shared errors", e)
	}
}

// (b)
func TestInvalidateOnOneReplicaReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	rs := replicas(t, srv, o, 3, setup{follow: true})
	for _, r := range rs {
		get(t, r.Cache, "user_1")
		get(t, r.Cache, "user_2")
	}
	if err := rs[0].Invalidate(context.Background(), "user_1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "user_1 dropped by every replica", func() bool {
		for _, r := range rs {
			if _, ok := r.Fresh("user_1"); ok {
				return false
			}
		}
		return true
	})
	for _, r := range rs {
		if _, ok := r.Fresh("user_2"); !ok {
			t.Fatal("another key was dropped too")
		}
	}
	loads := o.calls.Load()
	get(t, rs[2].Cache, "user_1")
	if o.calls.Load() != loads+1 {
		t.Fatal("the invalidated value was still in Redis")
	}
}

func TestALoadInFlightWhenItsKeyIsInvalidatedIsNeitherKeptNorShared(t *testing.T) {
	// The load asked the origin before the change the invalidation
	// announces: its answer goes to the callers already waiting, but kept
	// (here, and in Redis for every replica) it would outlive the
	// invalidation for a whole TTL.
	for _, tc := range []struct {
		name       string
		invalidate func(rs []replica) error
	}{
		{"invalidated on this replica", func(rs []replica) error { return rs[0].Invalidate(context.Background(), "user_1") }},
		{"invalidated on another replica", func(rs []replica) error { return rs[1].Invalidate(context.Background(), "user_1") }},
		{"purged on another replica", func(rs []replica) error { return rs[1].Purge(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			o := &origin{hold: make(chan struct{})}
			rs := replicas(t, srv, o, 3, setup{follow: true})
			done := make(chan struct{})
			go func() {
				defer close(done)
				get(t, rs[0].Cache, "user_1")
			}()
			eventually(t, "the load started", func() bool { return o.calls.Load() == 1 })
			heard := rs[0].w.heard.Load()
			if err := tc.invalidate(rs); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the announcement applied", func() bool { return rs[0].w.heard.Load() > heard })
			close(o.hold)
			<-done
			if _, ok := rs[0].Fresh("user_1"); ok {
				t.Error("the replica kept the answer loaded before the invalidation")
			}
			time.Sleep(100 * time.Millisecond) // a load is shared after its callers have their answer
			if _, _, ok, err := rs[0].store.Get(context.Background(), "test:user_1"); ok || err != nil {
				t.Errorf("Redis holds the answer loaded before the invalidation (%v)", err)
			}
			loads := o.calls.Load()
			get(t, rs[2].Cache, "user_1")
			get(t, rs[0].Cache, "user_1")
			if n := o.calls.Load() - loads; n != 1 {
				t.Errorf("%d loads after the invalidation, want 1", n)
			}
		})
	}
}

// (c)
func TestPurgeOnOneReplicaEmptiesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	rs := replicas(t, srv, o, 3, setup{follow: true})
	for _, r := range rs {
		for i := range 10 {
			get(t, r.Cache, fmt.Sprintf("user_%d", i))
		}
	}
	if err := rs[1].Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every replica empty", func() bool { return total(rs, func(s cache.Stats) uint64 { return uint64(s.Entries) }) == 0 }) //nolint:gosec // a count
	loads := o.calls.Load()
	get(t, rs[0].Cache, "user_3")
	if o.calls.Load() != loads+1 {
		t.Fatal("a purged value was still in Redis")
	}
}

// (d)
func TestRedisDyingAndComingBackIsAnOutageOfSharingOnly(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	rs := replicas(t, srv, o, 3, setup{follow: true})
	for _, r := range rs {
		get(t, r.Cache, "warm")
	}
	srv.Kill()
	var slowest time.Duration
	for i := range 30 {
		for _, r := range rs {
			start := time.Now()
			get(t, r.Cache, fmt.Sprintf("down_%d", i)) // a miss: from Load
			get(t, r.Cache, "warm")                    // a hit: never asks Redis
			slowest = max(slowest, time.Since(start))
		}
	}
	t.Logf("slowest answer with Redis down: %s", slowest)
	if slowest > 300*time.Millisecond {
		t.Fatalf("an answer took %s with Redis down", slowest)
	}
	if e := total(rs, func(s cache.Stats) uint64 { return s.SharedErrors }); e == 0 {
		t.Fatal("no shared errors counted with Redis down")
	}

	srv.Restart()
	for _, r := range rs {
		r.waitSubscribed(t, 2) // resubscribed
	}
	// Sharing resumes: within a few seconds (each replica leaves a failed
	// Redis alone for 1 s), what one replica loads another takes from Redis.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		key := fmt.Sprintf("up_%d", i)
		hits := rs[1].Stats().SharedHits
		get(t, rs[0].Cache, key)
		get(t, rs[1].Cache, key)
		if rs[1].Stats().SharedHits > hits {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sharing did not resume after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And so do invalidations.
	get(t, rs[2].Cache, "after")
	if err := rs[0].Invalidate(context.Background(), "after"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an invalidation after the restart reached another replica", func() bool {
		_, ok := rs[2].Fresh("after")
		return !ok
	})
}

func TestAStalledRedisDelaysAMissByTheTimeoutOnly(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	rs := replicas(t, srv, o, 1, setup{})
	get(t, rs[0].Cache, "warm") // connections in the pool
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	defer func() { _ = admin.Close() }()
	// CLIENT PAUSE holds every other client's commands: Redis stalls.
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	get(t, rs[0].Cache, "user_1")
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("a miss took %s with Redis stalled; the bound is the 100 ms timeout", d)
	}
	if rs[0].Stats().SharedErrors == 0 {
		t.Fatal("the timeout was not counted")
	}
}

// (e)
func TestGarbageInRedisIsAnErrorAndTheKeyIsLoaded(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	rs := replicas(t, srv, o, 2, setup{})
	if err := rs[0].store.Set(context.Background(), "test:user_1", []byte("\x00garbage"), time.Minute); err != nil {
		t.Fatal(err)
	}
	get(t, rs[0].Cache, "user_1")
	inRedis(t, rs[0].store, "test:user_1", "value-of-user_1")
	// Two errors: the first look, and the second one a claim takes (it
	// finds the same garbage).
	if s := rs[0].Stats(); s.SharedErrors != 2 || s.SharedHits != 0 || o.calls.Load() != 1 {
		t.Fatalf("stats %+v, %d loads; want 2 shared errors and 1 load", s, o.calls.Load())
	}
	get(t, rs[1].Cache, "user_1") // the load replaced the garbage
	if s := rs[1].Stats(); s.SharedHits != 1 || o.calls.Load() != 1 {
		t.Fatalf("stats %+v, %d loads; want the loaded value from Redis", s, o.calls.Load())
	}
}

// (f)
func TestASharedValueIsBelievedOnlyForTheTTLItHasLeft(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	clk := testclock.New(time.Unix(1_700_000_000, 0))
	rs := replicas(t, srv, o, 1, setup{ttl: 10 * time.Second, now: clk.Now})
	c, ctx := rs[0], context.Background()
	// Another replica loaded it 7 s ago: 3 s left.
	if err := c.store.Set(ctx, "test:user_1", []byte("value-of-user_1"), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	get(t, c.Cache, "user_1")
	clk.Advance(2900 * time.Millisecond)
	get(t, c.Cache, "user_1")
	if s := c.Stats(); s.SharedHits != 1 || s.Hits != 1 {
		t.Fatalf("stats %+v: want the shared hit, then a local hit within its 3 s", s)
	}
	clk.Advance(200 * time.Millisecond)
	get(t, c.Cache, "user_1")
	if s := c.Stats(); s.Hits != 1 || s.Misses != 2 {
		t.Fatalf("stats %+v: the local copy was believed past the 3 s Redis had left", s)
	}
	// Nor longer than this cache's own TTL, whatever Redis says.
	if err := c.store.Set(ctx, "test:user_2", []byte("value-of-user_2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	get(t, c.Cache, "user_2")
	clk.Advance(10 * time.Second)
	if _, ok := c.Fresh("user_2"); ok {
		t.Fatal("a shared value outlived the cache's TTL")
	}
	if n := o.calls.Load(); n != 0 {
		t.Fatalf("%d loads, want none: Redis answered every miss", n)
	}
}

func TestDuringABackOffRedisStillAnswersButNothingLoads(t *testing.T) {
	srv := redistest.Start(t)
	o := &origin{}
	clk := testclock.New(time.Unix(1_700_000_000, 0))
	rs := replicas(t, srv, o, 2, setup{now: clk.Now})
	get(t, rs[1].Cache, "user_2")
	inRedis(t, rs[1].store, "test:user_2", "value-of-user_2")
	o.fail(&rateLimited{wait: 10 * time.Second})
	if _, err := rs[0].Get(context.Background(), "user_1"); err == nil {
		t.Fatal("want the 429")
	}
	o.fail(nil)
	loads := o.calls.Load()
	get(t, rs[0].Cache, "user_2") // backing off: from Redis, no call
	if _, err := rs[0].Get(context.Background(), "user_3"); !errors.Is(err, cache.ErrBackoff) {
		t.Fatalf("nothing anywhere during a back-off: %v, want ErrBackoff", err)
	}
	if o.calls.Load() != loads {
		t.Fatal("a load during the back-off")
	}
	if s := rs[0].Stats(); s.SharedHits != 1 || s.LoaderErrors != 1 || s.RateLimitBackoffs != 1 {
		t.Fatalf("stats %+v", s)
	}
	clk.Advance(10 * time.Second)
	get(t, rs[0].Cache, "user_3")
}

func TestAFreshLocalHitNeverReachesShared(t *testing.T) {
	c := sharedCacheOver(t, panicking{})
	get(t, c, "user_1") // the miss survives the panics as shared errors
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = c.Get(context.Background(), "user_1") }); allocs != 0 {
		t.Fatalf("%v allocations per hit with Shared set", allocs)
	}
	if s := c.Stats(); s.SharedErrors == 0 || s.Hits < 1000 {
		t.Fatalf("stats %+v", s)
	}
}

// panicking is a Shared whose every call panics.
type panicking struct{}

func (panicking) Get(context.Context, string) ([]byte, time.Duration, bool, error) {
	panic("get")
}
func (panicking) Set(context.Context, string, []byte, time.Duration) error       { panic("set") }
func (panicking) Claim(context.Context, string, time.Duration) (bool, error)     { panic("claim") }
func (panicking) Release(context.Context, string) error                          { panic("release") }
func (panicking) Invalidate(context.Context, ...string) error                    { panic("invalidate") }
func (panicking) Purge(context.Context, string) error                            { panic("purge") }
func (panicking) Subscribe(context.Context, func(key string, prefix bool)) error { panic("subscribe") }

func sharedCacheOver(t testing.TB, sh cache.Shared) *cache.Cache[string, string] {
	t.Helper()
	o := &origin{}
	opts := cache.Options[string, string]{Size: 10_000, TTL: time.Hour, Load: o.load}
	if sh != nil {
		opts.Shared, opts.SharedName = sh, "bench"
		opts.Encode = func(v string) ([]byte, error) { return []byte(v), nil }
		opts.Decode = decode
	}
	c, err := cache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// BenchmarkGetHit: a fresh local hit, without and with a Redis level.
func BenchmarkGetHit(b *testing.B) {
	srv := redistest.Start(b)
	st, err := redisshare.Open(context.Background(), srv.URL(), redisshare.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for name, sh := range map[string]cache.Shared{"local": nil, "shared": st} {
		b.Run(name, func(b *testing.B) {
			c := sharedCacheOver(b, sh)
			get(b, c, "user_1")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Get(ctx, "user_1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetMiss: a local miss answered by Load with no Redis (Load
// here is free; Clerk's takes tens of ms), by Redis, and by Load after
// Redis missed (the cost sharing adds to a real load: GET, claim, SET,
// release).
func BenchmarkGetMiss(b *testing.B) {
	srv := redistest.Start(b)
	st, err := redisshare.Open(context.Background(), srv.URL(), redisshare.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ctx := context.Background()
	b.Run("load", func(b *testing.B) {
		c := sharedCacheOver(b, nil)
		for b.Loop() {
			c.Delete("user_1")
			get(b, c, "user_1")
		}
	})
	b.Run("redis-hit", func(b *testing.B) {
		c := sharedCacheOver(b, st)
		get(b, c, "user_1")
		for b.Loop() {
			c.Delete("user_1") // local only: Redis keeps it
			get(b, c, "user_1")
		}
		if s := c.Stats(); s.SharedErrors != 0 || s.SharedHits < uint64(b.N) { //nolint:gosec // b.N > 0
			b.Fatalf("stats %+v", s)
		}
	})
	b.Run("redis-miss-then-load", func(b *testing.B) {
		c := sharedCacheOver(b, st)
		i := 0
		for b.Loop() {
			i++
			get(b, c, fmt.Sprintf("miss_%d_%d", b.N, i))
		}
		if s := c.Stats(); s.SharedErrors != 0 {
			b.Fatalf("stats %+v", s)
		}
		_ = st.Purge(ctx, "bench:")
	})
}
