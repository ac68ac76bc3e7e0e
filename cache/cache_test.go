package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/internal/testclock"
)

// source is a loader whose answers and errors the test sets.
type source struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
	gate  chan struct{} // when set, Load blocks until it is closed
}

func (s *source) load(_ context.Context, key string) (string, error) {
	s.calls.Add(1)
	s.mu.Lock()
	err, gate := s.err, s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return "", err
	}
	if key == "nobody" {
		return "", nil
	}
	return "value-of-" + key, nil
}

func (s *source) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
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

func newTestCache(t *testing.T, src *source, clk *testclock.Clock) *Cache[string, string] {
	t.Helper()
	return newTestCacheOfSize(t, src, clk, 100)
}

// newTestCacheOfSize is newTestCache holding size entries: from 512 on, in
// shards.
func newTestCacheOfSize(t *testing.T, src *source, clk *testclock.Clock, size int) *Cache[string, string] {
	t.Helper()
	c, err := New(Options[string, string]{
		Size: size, TTL: 30 * time.Second, NegativeTTL: 10 * time.Second, StaleWindow: 2 * time.Minute,
		Load: src.load, IsNegative: func(v string) bool { return v == "" }, RetryAfter: retryAfter, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustGet(t *testing.T, c *Cache[string, string], key, want string) {
	t.Helper()
	got, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func TestEntriesAreServedUntilTheirTTLThenReloaded(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string
		ttl  time.Duration
	}{
		{"positive answer uses TTL", "user_1", "value-of-user_1", 30 * time.Second},
		{"negative answer uses the shorter NegativeTTL", "nobody", "", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
			c := newTestCache(t, src, clk)
			mustGet(t, c, tt.key, tt.want)
			clk.Advance(tt.ttl - time.Nanosecond)
			mustGet(t, c, tt.key, tt.want)
			if n := src.calls.Load(); n != 1 {
				t.Fatalf("inside the TTL: %d loads, want 1", n)
			}
			clk.Advance(time.Nanosecond)
			mustGet(t, c, tt.key, tt.want)
			if n := src.calls.Load(); n != 2 {
				t.Fatalf("at the TTL: %d loads, want 2", n)
			}
			if s := c.Stats(); s.Hits != 1 || s.Misses != 2 {
				t.Fatalf("stats %+v, want 1 hit and 2 misses", s)
			}
		})
	}
}

func TestConcurrentMissesForOneKeyMakeOneLoad(t *testing.T) {
	src, clk := &source{gate: make(chan struct{})}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get(context.Background(), "user_1")
			if err == nil && v != "value-of-user_1" {
				err = fmt.Errorf("got %q", v)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	// Release the load only once every other caller is waiting on it.
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().CoalescedWaits < n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d callers joined", c.Stats().CoalescedWaits)
		}
		time.Sleep(time.Millisecond)
	}
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d loads for %d concurrent misses, want 1", got, n)
	}
}

func TestACallerGivingUpDoesNotCancelTheSharedLoad(t *testing.T) {
	src, clk := &source{gate: make(chan struct{})}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "user_1"); first <- err }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "user_1"); second <- err }()
	for c.Stats().CoalescedWaits == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(src.gate)
	if err := <-second; err != nil {
		t.Fatalf("waiting caller got %v", err)
	}
	mustGet(t, c, "user_1", "value-of-user_1")
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
}

func TestStaleEntryIsServedWhileLoadFailsWithinTheWindow(t *testing.T) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	mustGet(t, c, "user_1", "value-of-user_1")
	src.fail(errors.New("clerk is down"))
	clk.Advance(30 * time.Second) // expired, stale window open
	mustGet(t, c, "user_1", "value-of-user_1")
	clk.Advance(2*time.Minute - time.Second)
	mustGet(t, c, "user_1", "value-of-user_1")
	if s := c.Stats(); s.StaleServes != 2 || s.LoaderErrors != 2 {
		t.Fatalf("stats %+v, want 2 stale serves and 2 loader errors", s)
	}
	clk.Advance(time.Second) // window closed
	if _, err := c.Get(context.Background(), "user_1"); err == nil {
		t.Fatal("served past the stale window")
	}
	if _, err := c.Get(context.Background(), "user_2"); err == nil {
		t.Fatal("nothing cached and the loader fails: want an error")
	}
}

func TestRetryAfterStopsEveryLoadUntilItPasses(t *testing.T) {
	for _, size := range []int{100, 10_000} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) { testRetryAfterStopsEveryLoad(t, size) })
	}
}

func testRetryAfterStopsEveryLoad(t *testing.T, size int) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCacheOfSize(t, src, clk, size)
	// The second key lives in another shard when there are several: the
	// back-off is the instance's, not a shard's.
	other := "user_2"
	for i := 3; len(c.shards) > 1 && c.shard(other) == c.shard("user_1"); i++ {
		other = fmt.Sprintf("user_%d", i)
	}
	mustGet(t, c, "user_1", "value-of-user_1")
	clk.Advance(31 * time.Second)
	src.fail(&rateLimited{wait: 10 * time.Second})
	mustGet(t, c, "user_1", "value-of-user_1") // 429: stale
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}
	src.fail(nil)
	clk.Advance(9 * time.Second)
	mustGet(t, c, "user_1", "value-of-user_1") // stale, no call
	_, err := c.Get(context.Background(), other)
	if !errors.Is(err, ErrBackoff) {
		t.Fatalf("uncached key during back-off: err %v, want ErrBackoff", err)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d loads during the back-off, want none after the 429", n-2)
	}
	clk.Advance(time.Second)
	mustGet(t, c, other, "value-of-"+other)
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("after Retry-After: %d loads, want 3", n)
	}
	if s := c.Stats(); s.RateLimitBackoffs != 1 || s.StaleServes != 2 {
		t.Fatalf("stats %+v, want 1 back-off and 2 stale serves", s)
	}
}

// A back-off holds back only the loads that call the remote API: keys
// CallsRemote says are loaded locally keep loading.
func TestBackoffSparesLoadsThatMakeNoRemoteCall(t *testing.T) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c, err := New(Options[string, string]{
		Size: 100, TTL: 30 * time.Second, Load: src.load, RetryAfter: retryAfter, Now: clk.Now,
		CallsRemote: func(_ context.Context, key string) bool { return !strings.HasPrefix(key, "local_") },
	})
	if err != nil {
		t.Fatal(err)
	}
	src.fail(&rateLimited{wait: 10 * time.Second})
	if _, err := c.Get(context.Background(), "remote_1"); err == nil {
		t.Fatal("the 429 was not returned")
	}
	src.fail(nil)
	if _, err := c.Get(context.Background(), "remote_2"); !errors.Is(err, ErrBackoff) {
		t.Fatalf("remote key during the back-off: err %v, want ErrBackoff", err)
	}
	mustGet(t, c, "local_1", "value-of-local_1")
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d loads, want the 429 and the local key's", n)
	}
}

func TestRetryAfterIsBounded(t *testing.T) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	src.fail(&rateLimited{wait: 24 * time.Hour})
	_, _ = c.Get(context.Background(), "user_1")
	src.fail(nil)
	clk.Advance(maxBackoff)
	mustGet(t, c, "user_1", "value-of-user_1")
}

func TestSizeBoundHoldsUnderManyDistinctKeys(t *testing.T) {
	for _, size := range []int{1000, 10_000} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) { testSizeBound(t, size) })
	}
}

func testSizeBound(t *testing.T, size int) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c, err := New(Options[string, string]{Size: size, TTL: time.Minute, Load: src.load, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const users = 100_000
	for i := range users {
		key := fmt.Sprintf("user_%d", i)
		mustGet(t, c, key, "value-of-"+key)
		if i%97 == 0 && c.Len() > size {
			t.Fatalf("after %d users: %d entries, bound %d", i+1, c.Len(), size)
		}
	}
	if s := c.Stats(); s.Entries != size || s.Evictions != uint64(users-size) { //nolint:gosec // users > size, both small constants
		t.Fatalf("stats %+v, want %d entries and %d evictions", s, size, users-size)
	}
	mustGet(t, c, "user_99999", "value-of-user_99999") // the newest survive
	if n := src.calls.Load(); n != users {
		t.Fatalf("%d loads, want %d", n, users)
	}
}

func TestAPanickingLoaderFailsItsCallersInsteadOfHangingThem(t *testing.T) {
	clk := testclock.New(time.Unix(1_700_000_000, 0))
	c, err := New(Options[string, string]{Size: 10, TTL: time.Minute, Now: clk.Now,
		Load: func(context.Context, string) (string, error) { panic("boom") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "k"); err == nil {
		t.Fatal("want an error from a panicking loader")
	}
}

func TestDeleteForgetsAnEntry(t *testing.T) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	mustGet(t, c, "user_1", "value-of-user_1")
	c.Delete("user_1")
	mustGet(t, c, "user_1", "value-of-user_1")
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}
}

func TestACallerAfterADeleteDoesNotJoinTheLoadStartedBeforeIt(t *testing.T) {
	// The load in flight may have read the answer the Delete (a webhook)
	// says is out of date: a caller that comes after must load anew.
	for _, tc := range []struct {
		name   string
		forget func(c *Cache[string, string]) error
	}{
		{"Delete", func(c *Cache[string, string]) error { c.Delete("user_1"); return nil }},
		{"Invalidate", func(c *Cache[string, string]) error { return c.Invalidate(context.Background(), "user_1") }},
		{"Purge", func(c *Cache[string, string]) error { return c.Purge(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, clk := &source{gate: make(chan struct{})}, testclock.New(time.Unix(1_700_000_000, 0))
			c := newTestCache(t, src, clk)
			errs := make(chan error, 2)
			get := func() { _, err := c.Get(context.Background(), "user_1"); errs <- err }
			go get()
			for src.calls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			if err := tc.forget(c); err != nil {
				t.Fatal(err)
			}
			go get()
			deadline := time.Now().Add(2 * time.Second)
			for src.calls.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(src.gate)
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if n, joined := src.calls.Load(), c.Stats().CoalescedWaits; n != 2 || joined != 0 {
				t.Fatalf("%d loads, %d callers joined the older one; want 2 loads, none joined", n, joined)
			}
			mustGet(t, c, "user_1", "value-of-user_1") // the later load's answer is kept
			if n := src.calls.Load(); n != 2 {
				t.Fatalf("%d loads, want the later answer kept", n)
			}
		})
	}
}

func TestNewRefusesUnboundedOrUselessCaches(t *testing.T) {
	load := func(context.Context, string) (string, error) { return "", nil }
	for name, o := range map[string]Options[string, string]{
		"zero size": {TTL: time.Second, Load: load},
		"zero TTL":  {Size: 1, Load: load},
		"no loader": {Size: 1, TTL: time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLargeCachesAreShardedAndSmallOnesAreOneLRU(t *testing.T) {
	for size, want := range map[int]int{1: 1, 100: 1, 511: 1, 512: 2, 1000: 3, 10_000: 32, 1_000_000: 32} {
		c, err := New(Options[string, string]{Size: size, TTL: time.Minute, Load: (&source{}).load})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i := range c.shards {
			// An LRU's capacity: how many adds before the first eviction.
			l := c.shards[i].lru
			for n := 0; !l.Add(fmt.Sprint(n), nil); n++ {
				total++
			}
		}
		if len(c.shards) != want || total != size {
			t.Errorf("size %d: %d shards holding %d, want %d holding %d", size, len(c.shards), total, want, size)
		}
	}
}

// BenchmarkGetHitParallel: every core looking up cached keys (64 users),
// as org rules do under load; run with -cpu 1,2,… to see it scale.
func BenchmarkGetHitParallel(b *testing.B) {
	c, err := New(Options[string, string]{Size: 10_000, TTL: time.Hour, Load: (&source{}).load})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("user_%d", i)
		if _, err := c.Get(context.Background(), keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	var goroutines atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		// Each goroutine picks keys in its own random order: walking the
		// list in step, they would keep wanting the same shard at once.
		r := rand.New(rand.NewPCG(uint64(goroutines.Add(1)), 0)) //nolint:gosec // spreads keys across shards; not a secret
		for pb.Next() {
			if _, err := c.Get(ctx, keys[r.IntN(len(keys))]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestFreshAnswersOnlyFromAFreshEntryAndNeverLoads(t *testing.T) {
	src, clk := &source{}, testclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, src, clk)
	if _, ok := c.Fresh("user_1"); ok {
		t.Fatal("Fresh found an entry in an empty cache")
	}
	mustGet(t, c, "user_1", "value-of-user_1")
	if v, ok := c.Fresh("user_1"); !ok || v != "value-of-user_1" {
		t.Fatalf("Fresh = %q, %v inside the TTL", v, ok)
	}
	clk.Advance(30 * time.Second)
	if _, ok := c.Fresh("user_1"); ok {
		t.Fatal("Fresh served an entry past its TTL (stale entries are Get's to serve)")
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1: Fresh never loads", n)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("stats %+v, want the one fresh answer counted as a hit", s)
	}
}
