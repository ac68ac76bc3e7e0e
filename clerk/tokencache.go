package clerk

import (
	"crypto/sha256"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// tokenCache remembers the sessions of the tokens a Verifier has fully
// verified, so that a session presenting the same token again (every
// request of a page load, for the token's 60-second life) costs a SHA-256
// and a map lookup instead of JSON decoding and an RSA verification.
//
// What makes it safe:
//   - The key is the SHA-256 of the exact token string, never the token.
//     Entries hold the Session only (session.go), not the signature or the
//     signing input, so the cache holds nothing that could be replayed. A
//     hit means these very bytes were verified before (collisions are out
//     of reach for SHA-256, unlike a 64-bit hash).
//   - Only tokens that passed every check (signature and claims) are
//     stored. Failures are never cached: a forged token pays for its RSA
//     verification every time, and cannot ride on anything cached.
//   - A hit is not a pass: Verifier.Lookup checks the session's times
//     against the clock on every hit (exp, nbf, iat with the same clock
//     skew), so expiry is exact to the millisecond, as without the cache.
//   - The signing key is not looked up again on a hit. If Clerk rotates its
//     keys, a token verified with the old key stays valid until its own exp
//     (60 s for session tokens). That is the same window in which the SDK's
//     5-minute JWKS cache would accept it, so nothing is lost.
//   - Bounded: at most size entries (each shard holds size/shards, rounded
//     up), evicting on insert; the victim is the soonest-expiring of a few
//     entries sampled at random. Only valid tokens get in, so filling it
//     takes that many fresh sessions, or one session's token with its
//     signature's "=" padding varied, which only evicts others' entries
//     (they re-verify). Clerk refreshes a session's token every ~50 s, so
//     the default 10,000 entries (TOKEN_CACHE_SIZE) hold the current tokens
//     of about 10,000 active sessions.
//   - No pointer per entry, so a full cache costs the collector nothing:
//     the collector marks every pointer of the heap on every cycle, and a
//     full cache of decoded sessions (a dozen pointers each) is marked again
//     and again for as long as it stays full. A shard's encoded sessions sit
//     back to back in one byte slice (arena) and its map holds offsets; a
//     hit decodes its entry into a fresh Session. An arena holds at most a
//     quarter more than its entries did at most (compact), which main's
//     soft memory limit (gc.go) allows for.
//   - Sharded by hash, one lock per shard: requests for different tokens
//     rarely meet on a lock, and a hit takes only a read lock.
//   - A token presented again and again (every request of a page load, an
//     API client) is answered from the recent table, before any hashing:
//     64 slots, each holding a copy of a token that hit and its decoded
//     session, found by a seeded fast hash of the token (maphash) and
//     checked by comparing the token byte for byte. So a repeat costs a
//     comparison instead of a SHA-256, a lock and a decode, and a slot
//     answers only for the very bytes that verified, whatever the fast hash
//     does. A slot may outlive its map entry (evicted meanwhile): that is
//     harmless, since it still holds a token that verified and Lookup
//     checks its times on every hit as for any entry.
type tokenCache struct {
	shards     []tokenShard
	mask       uint64
	perShard   int
	arenaLimit int // maxArena; smaller in tests

	// recent is the recent table (above): slot i holds the last token
	// that hit with maphash(seed, token) mod recentSlots == i.
	recent [recentSlots]atomic.Pointer[decodedSession]
	seed   maphash.Seed
}

// recentSlots is the size of the recent table; the collector marks at
// most that many decoded sessions for it.
const recentSlots = 64

type tokenKey = [sha256.Size]byte

// hashToken is the cache key of a token. It hashes the string's bytes in
// place: converting a ~1 KB token to a []byte would allocate on every
// request, and SHA-256 only reads its input.
func hashToken(token string) tokenKey {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token))) //nolint:gosec // SHA-256 only reads it
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[tokenKey]cacheSlot // no pointers: the collector skips it
	// arena holds the entries m points at, back to back. Bytes are only
	// appended, and a hit copies its entry out before decoding, so no
	// decoded session points into it: a session's strings never pin a
	// whole arena, and compact may drop the old one.
	arena []byte
	dead  int // bytes of arena no entry of m uses any more
	// Keep each shard's lock on its own cache line: cores hitting
	// neighbouring shards must not invalidate each other's lines.
	_ [64]byte
}

// cacheSlot is a map value: where the encoded session (session.go) sits in
// the shard's arena, and its expiry beside it so that choosing an eviction
// victim reads the map only.
type cacheSlot struct {
	exp      float64
	off, len uint32
}

// minArena is a shard arena's smallest capacity: a few typical entries.
const minArena = 4 << 10

// maxArena bounds a shard's arena: slots hold 32-bit offsets.
const maxArena = min(math.MaxUint32, math.MaxInt)

// evictionSample is how many entries an eviction looks at.
const evictionSample = 4

func newTokenCache(size int) *tokenCache {
	n := 64
	for n > 1 && size/n < 16 {
		n /= 2
	}
	c := &tokenCache{shards: make([]tokenShard, n), mask: uint64(n - 1), perShard: (size + n - 1) / n, arenaLimit: maxArena, //nolint:gosec // n is 1 to 64
		seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[tokenKey]cacheSlot)
	}
	return c
}

func (c *tokenCache) shard(k *tokenKey) *tokenShard {
	// The key is a uniformly distributed hash already.
	i := uint64(k[0]) | uint64(k[1])<<8
	return &c.shards[i&c.mask]
}

// lookup returns the cached session of token, or nil: from the recent
// table when the token is in it, else from its shard (and the recent table
// keeps it from then on).
func (c *tokenCache) lookup(token string) *decodedSession {
	slot := c.recentSlot(token)
	if d := slot.Load(); d != nil && d.token == token {
		return d
	}
	key := hashToken(token)
	d := c.find(&key)
	if d == nil {
		return nil
	}
	// A copy: token may be part of a larger header (a Cookie line) that
	// the slot must not keep alive.
	d.token = strings.Clone(token)
	slot.Store(d)
	return d
}

func (c *tokenCache) recentSlot(token string) *atomic.Pointer[decodedSession] {
	return &c.recent[maphash.String(c.seed, token)%recentSlots]
}

// find decodes k's entry, or returns nil.
func (c *tokenCache) find(k *tokenKey) *decodedSession {
	s := c.shard(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	slot, ok := s.m[*k]
	if !ok {
		return nil
	}
	// Decoded under the read lock: decodeSession copies the bytes first,
	// and compact replaces the arena only under the write lock.
	d := decodeSession(s.arena[slot.off : slot.off+slot.len])
	if d != nil {
		d.key = *k
	}
	return d
}

// add stores a verified token's session, evicting when the shard is full.
func (c *tokenCache) add(k *tokenKey, session *Session) {
	entry := encodeSession(session)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*k]; ok {
		return
	}
	if len(s.m) >= c.perShard {
		s.evictOne()
	}
	if len(s.arena)+len(entry) > cap(s.arena) || len(s.arena)+len(entry) > c.arenaLimit {
		s.compact(len(entry))
	}
	if len(s.arena)+len(entry) > c.arenaLimit {
		return // even compacted it would not fit: the token re-verifies next time
	}
	off := len(s.arena)
	s.arena = append(s.arena, entry...)
	s.m[*k] = cacheSlot{exp: session.Expiry, off: uint32(off), len: uint32(len(entry))} //nolint:gosec // bounded above
}

// compact moves the live entries to a new arena with room for need more
// bytes and a quarter of the live ones. Dead bytes are dropped, so an arena
// never holds more than a quarter over the most its entries held (plus one
// entry), and copying is amortized: each compaction follows at least a
// quarter of the live bytes' worth of inserts. The old arena is left to
// the collector: hits copy their entry out under the read lock, so nothing
// else points into it.
func (s *tokenShard) compact(need int) {
	live := len(s.arena) - s.dead
	arena := make([]byte, 0, max(live+live/4+need, minArena))
	for k, slot := range s.m {
		off := len(arena)
		arena = append(arena, s.arena[slot.off:slot.off+slot.len]...)
		slot.off = uint32(off) //nolint:gosec // the live bytes fit in 32 bits (add)
		s.m[k] = slot
	}
	s.arena, s.dead = arena, 0
}

// evictOne drops the soonest-expiring of a few entries; map iteration
// starts at a random position, so the sample is random.
func (s *tokenShard) evictOne() {
	var victim tokenKey
	var victimExp float64
	n := 0
	for k, slot := range s.m {
		if n == 0 || slot.exp < victimExp {
			victim, victimExp = k, slot.exp
		}
		if n++; n == evictionSample {
			break
		}
	}
	if n > 0 {
		s.delete(&victim)
	}
}

// delete drops k from the shard (its lock held).
func (s *tokenShard) delete(k *tokenKey) {
	if slot, ok := s.m[*k]; ok {
		s.dead += int(slot.len)
		delete(s.m, *k)
	}
}

// remove drops k.
func (c *tokenCache) remove(k *tokenKey) {
	s := c.shard(k)
	s.mu.Lock()
	s.delete(k)
	s.mu.Unlock()
}

// removeExpired drops d, a session found expired, from its shard and from
// the recent table.
func (c *tokenCache) removeExpired(d *decodedSession) {
	c.remove(&d.key)
	c.recentSlot(d.token).CompareAndSwap(d, nil)
}
