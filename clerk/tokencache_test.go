package clerk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// countingKeys counts key lookups: a lookup means a full verification.
type countingKeys struct {
	KeySource
	lookups atomic.Int64
}

func (k *countingKeys) Key(ctx context.Context, kid string) (*PublicKey, error) {
	k.lookups.Add(1)
	return k.KeySource.Key(ctx, kid)
}

type cacheEnv struct {
	fake *clerktest.Server
	keys *countingKeys
	now  time.Time
	v    *Verifier
}

func newCacheEnv(t *testing.T, size int) *cacheEnv {
	t.Helper()
	fake := clerktest.Start(t, clerktest.Options{Production: true})
	static, err := NewStaticKeys(fake.Key().PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	e := &cacheEnv{fake: fake, keys: &countingKeys{KeySource: static}, now: time.Now()}
	e.v = NewVerifier(e.keys, VerifyOptions{TokenCacheSize: size, Now: func() time.Time { return e.now }})
	return e
}

func (e *cacheEnv) token(mod func(clerktest.Claims)) string {
	c := e.fake.SessionClaims("user_1")
	if mod != nil {
		mod(c)
	}
	return e.fake.Sign(c)
}

// verify is Lookup, then Decode and Verify on a miss.
func (e *cacheEnv) verify(token string) error {
	_, err := e.v.VerifyToken(context.Background(), token)
	return err
}

// verifyFresh skips the cache's answer: Decode and Verify.
func (e *cacheEnv) verifyFresh(token string) error {
	t, err := e.v.Decode(token)
	if err != nil {
		return err
	}
	_, err = e.v.Verify(context.Background(), t)
	return err
}

func TestTokenCacheSkipsSignatureForAVerifiedToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		verify func(*cacheEnv) func(string) error
		want   int64 // key lookups for three verifications
	}{
		{"Lookup, then Decode and Verify on a miss", 100, func(e *cacheEnv) func(string) error { return e.verify }, 1},
		{"Decode and Verify every time", 100, func(e *cacheEnv) func(string) error { return e.verifyFresh }, 3},
		{"cache disabled", 0, func(e *cacheEnv) func(string) error { return e.verify }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t, tc.size)
			token := e.token(nil)
			for i := 0; i < 3; i++ {
				if err := tc.verify(e)(token); err != nil {
					t.Fatalf("verification %d: %v", i, err)
				}
			}
			if got := e.keys.lookups.Load(); got != tc.want {
				t.Fatalf("key lookups = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTokenCacheHitStillChecksTheClock(t *testing.T) {
	e := newCacheEnv(t, 100)
	exp := e.now.Add(30 * time.Second)
	token := e.token(func(c clerktest.Claims) { c["exp"] = exp.Unix() })
	if err := e.verify(token); err != nil {
		t.Fatal(err)
	}
	// Still valid within the 5 s skew after exp, expired from exp+skew on:
	// exactly as without the cache.
	e.now = time.Unix(exp.Unix(), 0).Add(DefaultClockSkew - time.Millisecond)
	if err := e.verify(token); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	e.now = time.Unix(exp.Unix(), 0).Add(DefaultClockSkew)
	if s, err := e.v.Lookup(token); s == nil || ReasonOf(err) != ReasonTokenExpired {
		t.Fatalf("after exp+skew: Lookup gave %v, %v; want the session and %s", s, err, ReasonTokenExpired)
	}
	for _, verify := range []func(string) error{e.verify, e.verifyFresh} {
		if err := verify(token); ReasonOf(err) != ReasonTokenExpired {
			t.Fatalf("after exp+skew: got %v, want %s", err, ReasonTokenExpired)
		}
	}
	if n := e.v.cache.len(); n != 0 {
		t.Fatalf("expired entry kept: %d entries", n)
	}
}

func TestTokenCacheNeverLetsABadTokenPass(t *testing.T) {
	e := newCacheEnv(t, 100)
	good := e.token(nil)
	if err := e.verify(good); err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(good, '.')
	attacker, err := clerktest.NewSigningKey(e.fake.Key().Kid)
	if err != nil {
		t.Fatal(err)
	}
	header, _ := decodeSegment(good[:strings.IndexByte(good, '.')])
	payload, _ := decodeSegment(good[strings.IndexByte(good, '.')+1 : dot])
	otherSig := clerktest.SignRaw(attacker, "RS256", header, payload)
	tests := []struct {
		name   string
		token  string
		reason Reason
	}{
		{"same claims, signature cut off", good[:dot+1], ReasonTokenInvalidSignature},
		{"same claims, signature zeroed", good[:dot+1] + strings.Repeat("A", len(good)-dot-1), ReasonTokenInvalidSignature},
		{"same payload signed by another key", otherSig, ReasonTokenInvalidSignature},
		{"not yet valid", e.token(func(c clerktest.Claims) {
			c["nbf"], c["exp"] = e.now.Add(time.Minute).Unix(), e.now.Add(time.Hour).Unix()
		}), ReasonTokenNotActiveYet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // a failure is not remembered as anything
				if err := e.verify(tc.token); ReasonOf(err) != tc.reason {
					t.Fatalf("attempt %d: got %v, want %s", i, err, tc.reason)
				}
			}
		})
	}
	if n := e.v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want only the good token", n)
	}
	// The not-yet-valid token was not cached as a failure: once its nbf
	// passes, it verifies.
	e.now = e.now.Add(2 * time.Minute)
	if err := e.verify(tests[3].token); err != nil {
		t.Fatalf("after nbf: %v", err)
	}
}

func TestTokenCacheEntryIsPerVerifier(t *testing.T) {
	e := newCacheEnv(t, 100)
	token := e.token(nil) // azp https://app.example.test
	if err := e.verify(token); err != nil {
		t.Fatal(err)
	}
	if s, err := e.v.Lookup(token); s == nil || err != nil {
		t.Fatalf("the verified token is not in the cache: %v", err)
	}
	strict := NewVerifier(e.keys, VerifyOptions{TokenCacheSize: 100, AuthorizedParties: []string{"https://other.example.test"}})
	if s, _ := strict.Lookup(token); s != nil {
		t.Fatal("another verifier's cache answered for the first's token")
	}
	if _, err := strict.VerifyToken(context.Background(), token); ReasonOf(err) != ReasonTokenInvalidAuthorizedParties {
		t.Fatalf("another verifier: %v, want %s", err, ReasonTokenInvalidAuthorizedParties)
	}
}

func TestTokenCacheKeepsNoCredential(t *testing.T) {
	e := newCacheEnv(t, 100)
	token := e.token(nil)
	if err := e.verify(token); err != nil {
		t.Fatal(err)
	}
	key := sha256.Sum256([]byte(token))
	session := e.v.cache.get(&key)
	if session == nil {
		t.Fatal("verified token not cached under its SHA-256")
	}
	if session.Subject != "user_1" {
		t.Fatalf("cached session: sub %q", session.Subject)
	}
	header, payload, _ := strings.Cut(token, ".")
	payload, signature, _ := strings.Cut(payload, ".")
	sig, _ := decodeSegment(signature)
	shard := e.v.cache.shard(&key)
	for _, part := range [][]byte{[]byte(header), []byte(payload), []byte(signature), sig} {
		if bytes.Contains(shard.arena, part) {
			t.Fatal("the cache's arena holds token material")
		}
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	for _, size := range []int{1, 10, 1000, 50000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newTokenCache(size)
			bound := len(c.shards) * c.perShard
			if bound < size || bound > size+len(c.shards) {
				t.Fatalf("capacity %d for size %d", bound, size)
			}
			exp := 1e9
			for i := 0; i < 3*size+100; i++ {
				k := sha256.Sum256([]byte(fmt.Sprint(i)))
				c.add(&k, expiringAt(exp))
			}
			if n := c.len(); n > bound {
				t.Fatalf("%d entries, bound %d", n, bound)
			}
		})
	}
}

func TestTokenCacheEvictsTheSoonestExpiring(t *testing.T) {
	c := newTokenCache(1) // one shard, one entry... and a sample of it
	c = &tokenCache{shards: c.shards, mask: 0, perShard: evictionSample, arenaLimit: maxArena}
	exps := []float64{40, 10, 30, 20}
	for i := range exps {
		k := sha256.Sum256([]byte{byte(i)})
		c.add(&k, expiringAt(exps[i]))
	}
	newExp := 50.0
	k := sha256.Sum256([]byte("new"))
	c.add(&k, expiringAt(newExp))
	soonest := sha256.Sum256([]byte{1})
	if c.get(&soonest) != nil || c.len() != evictionSample {
		t.Fatalf("eviction kept the soonest-expiring entry (len %d)", c.len())
	}
}

// expiringAt is a bare session with only an expiry.
func expiringAt(exp float64) *Session {
	return &Session{Subject: "user_1", SessionID: "sess_1", Expiry: exp}
}

func TestTokenCacheConcurrentUse(t *testing.T) {
	e := newCacheEnv(t, 100)
	tokens := []string{e.token(nil), e.token(nil), e.token(nil)}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := e.verify(tokens[(g+i)%len(tokens)]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestTokenCacheEntrySize keeps the documented memory bound honest: a
// cached realistic token (v2, active organization) costs about 0.6 KiB of
// heap and no object of its own (its bytes sit in the shard's arena, its
// slot in a map without pointers), so the collector has nothing to mark
// per entry. Keeping the token itself would add as much again.
func TestTokenCacheEntrySize(t *testing.T) {
	e := newCacheEnv(t, 1)
	c := e.fake.SessionClaims("user_2abcdefghijklmnopqrstuvwxyz")
	c.WithOrg("org_2abcdefghijklmnopqrstuvwxyz", "acme", "admin", "o:invoices,o:reports,u:profile", "read,manage", "3,1")
	token := e.fake.Sign(c)
	const n = 10000
	cache := newTokenCache(2 * n) // room for all: shards fill unevenly
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		parsed, err := DecodeJWT(token + strings.Repeat("=", i%50))
		if err != nil {
			t.Fatal(err)
		}
		k := hashToken(fmt.Sprint(i))
		cache.add(&k, newSession(&parsed.Claims))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / n
	objects := float64(after.HeapObjects-before.HeapObjects) / n
	t.Logf("%.0f bytes of heap in %.1f objects per cached token", perEntry, objects)
	if cache.len() != n {
		t.Fatalf("%d entries, want %d", cache.len(), n)
	}
	if perEntry > 700 {
		t.Fatalf("%.0f bytes per entry: the cache bound in tokencache.go no longer holds", perEntry)
	}
	if objects > 0.05 {
		t.Fatalf("%.2f heap objects per entry, want none (entries live in shard arenas)", objects)
	}
	runtime.KeepAlive(cache)
}

// TestTokenCacheArenaStaysCompact: through inserts and evictions of entries
// of every size, each entry still decodes to what was stored under its key,
// the arena's live bytes are exactly the map's entries, and its capacity
// never exceeds a quarter more than the most the entries ever held (plus
// one entry): dead bytes are dropped, not accumulated.
func TestTokenCacheArenaStaysCompact(t *testing.T) {
	c := newTokenCache(1)
	c = &tokenCache{shards: c.shards, mask: 0, perShard: 40, arenaLimit: maxArena} // one shard of 40
	s := &c.shards[0]
	stored := map[tokenKey]string{} // key → subject
	maxEntry, maxLive := 0, 0
	for i := range 5000 {
		sub := strings.Repeat("u", i%700) // entries from ~40 bytes to ~750
		exp := float64(1e9 + i%97)        // evictions hit old and new entries
		session := &Session{Expiry: exp, Subject: sub}
		maxEntry = max(maxEntry, len(encodeSession(session)))
		k := sha256.Sum256([]byte(fmt.Sprint(i)))
		c.add(&k, session)
		stored[k] = sub
		live := 0
		for _, slot := range s.m {
			live += int(slot.len)
		}
		maxLive = max(maxLive, live)
		if live != len(s.arena)-s.dead {
			t.Fatalf("after %d inserts: %d live bytes in the map, arena says %d", i+1, live, len(s.arena)-s.dead)
		}
		if bound := max(maxLive+maxLive/4+maxEntry, minArena); cap(s.arena) > bound {
			t.Fatalf("after %d inserts: arena capacity %d, bound %d", i+1, cap(s.arena), bound)
		}
		if i%50 == 49 {
			for k := range s.m {
				if got := c.get(&k); got == nil || got.Subject != stored[k] {
					t.Fatalf("after %d inserts an entry decodes wrong", i+1)
				}
			}
		}
	}
}

// TestTokenCacheArenaUnderConcurrentUse: readers hitting entries while
// writers evict and compact the same shard always get the entry stored
// under their key, never bytes of another (run with -race in
// scripts/test.sh).
func TestTokenCacheArenaUnderConcurrentUse(t *testing.T) {
	c := newTokenCache(1)
	c = &tokenCache{shards: c.shards, mask: 0, perShard: 16, arenaLimit: maxArena} // one small shard: constant compaction
	entry := func(i int) *Session {
		return &Session{Expiry: float64(1e9 + i), Subject: fmt.Sprint("user_", i, strings.Repeat("x", i%300))}
	}
	key := func(i int) tokenKey { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	var wg sync.WaitGroup
	var latest, hits atomic.Int64 // readers ask for what writers just added
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 4000; i += 2 {
				k := key(i)
				c.add(&k, entry(i))
				latest.Store(int64(i))
			}
		}()
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 20000 {
				i := max(int(latest.Load())-(n+r)%16, 0)
				k := key(i)
				got := c.get(&k)
				if got == nil {
					continue
				}
				hits.Add(1)
				if got.Subject != fmt.Sprint("user_", i, strings.Repeat("x", i%300)) {
					t.Errorf("key %d decoded to subject %.20q…", i, got.Subject)
					return
				}
			}
		}()
	}
	wg.Wait()
	if hits.Load() < 1000 {
		t.Fatalf("only %d hits: the readers did not meet the writers", hits.Load())
	}
}

// BenchmarkTokenCacheAddFull is the insert of a never-seen token into a
// full cache: an eviction (a sample of four) and an insert.
func BenchmarkTokenCacheAddFull(b *testing.B) {
	c := newTokenCache(10000)
	entries := make([]*Session, 1024)
	for i := range entries {
		entries[i] = expiringAt(float64(1e9 + i))
	}
	for i := range 20000 {
		k := sha256.Sum256([]byte(fmt.Sprint(i)))
		c.add(&k, entries[i%len(entries)])
	}
	var k tokenKey // a new key each time: the counter in its first bytes picks the shard
	copy(k[8:], "never-seen-token-key")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		binary.LittleEndian.PutUint64(k[:8], uint64(i)*0x9E3779B97F4A7C15)
		c.add(&k, entries[i%len(entries)])
		i++
	}
}

// TestTokenCacheArenaStaysWithinItsOffsets: an entry that would take a
// shard's arena past what its offsets can address is not stored (the
// token verifies again next time); dead bytes are compacted away first.
func TestTokenCacheArenaStaysWithinItsOffsets(t *testing.T) {
	entryLen := len(encodeSession(expiringAt(1)))
	c := newTokenCache(1)
	c = &tokenCache{shards: c.shards, mask: 0, perShard: 3, arenaLimit: 2 * entryLen}
	a, b, d := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("d"))
	c.add(&a, expiringAt(1))
	c.add(&b, expiringAt(2))
	c.add(&d, expiringAt(3))
	if c.get(&d) != nil || c.len() != 2 {
		t.Fatalf("an entry past the arena's limit was stored (%d entries)", c.len())
	}
	c.remove(&a) // its bytes are dead: compaction makes room
	c.add(&d, expiringAt(3))
	if got := c.get(&d); got == nil || got.Expiry != 3 {
		t.Fatal("compaction did not make room within the limit")
	}
	if n := len(c.shards[0].arena); n > c.arenaLimit {
		t.Fatalf("arena of %d bytes, limit %d", n, c.arenaLimit)
	}
}

// TestTokenCacheRecentTableAnswersOnlyTheSameBytes: a token that hit is
// answered again from the recent table without decoding, and a slot
// answers for its own token's bytes only, whichever other token the fast
// hash puts in the same slot.
func TestTokenCacheRecentTableAnswersOnlyTheSameBytes(t *testing.T) {
	c := newTokenCache(100)
	add := func(token string, exp float64) {
		k := hashToken(token)
		c.add(&k, expiringAt(exp))
	}
	a := "token-a"
	add(a, 10)
	first := c.lookup(a)
	if first == nil || c.lookup(a) != first {
		t.Fatal("a repeated hit decoded the entry again")
	}
	if unsafe.StringData(first.token) == unsafe.StringData(a) {
		t.Fatal("the recent table keeps the caller's string, not a copy")
	}
	// Tokens in a's slot: one not in the cache, one cached with its own
	// session.
	var same []string
	for i := 0; len(same) < 2; i++ {
		if tok := fmt.Sprint("token-", i); c.recentSlot(tok) == c.recentSlot(a) {
			same = append(same, tok)
		}
	}
	if c.lookup(same[0]) != nil {
		t.Fatal("a token never cached was answered from another token's slot")
	}
	if c.lookup(a+"=") != nil {
		t.Fatal("a token differing from a cached one was answered")
	}
	add(same[1], 20)
	if d := c.lookup(same[1]); d == nil || d.Expiry != 20 {
		t.Fatalf("a token sharing a slot got %+v", d)
	}
	if d := c.lookup(a); d == nil || d.Expiry != 10 {
		t.Fatalf("the first token after its slot changed hands: %+v", d)
	}
	c.removeExpired(c.lookup(a))
	if c.lookup(a) != nil || c.recentSlot(a).Load() != nil {
		t.Fatal("an expired token is still answered")
	}
}

// TestRepeatedTokenCostsNoAllocation: a token looked up again and again
// (a page load, an API client) is answered from the recent table,
// organization included, without decoding or allocating.
func TestRepeatedTokenCostsNoAllocation(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	e := newCacheEnv(t, 100)
	token := e.token(func(c clerktest.Claims) {
		c.WithOrg("org_1", "acme", "admin", "o:invoices", "read,manage", "3")
	})
	if err := e.verify(token); err != nil {
		t.Fatal(err)
	}
	var s *Session
	var err error
	// Warm the cache; the measured lookups below check the result.
	_, _ = e.v.Lookup(token)
	if n := testing.AllocsPerRun(10, func() { s, err = e.v.Lookup(token) }); n != 0 {
		t.Fatalf("a repeated lookup costs %v allocations", n)
	}
	if err != nil || s == nil || s.Org == nil || s.Org.Role != "org:admin" || len(s.Org.Permissions) != 2 {
		t.Fatalf("session %+v, %v", s, err)
	}
}

// get returns the cached session for k, or nil, without the recent table.
func (c *tokenCache) get(k *tokenKey) *Session {
	if d := c.find(k); d != nil {
		return &d.Session
	}
	return nil
}

// len counts the entries.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
