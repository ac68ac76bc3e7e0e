package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// MachineVerifier is what MachineLookup asks on a miss
// (*clerk.MachineVerifier).
type MachineVerifier interface {
	Verify(ctx context.Context, token string) (*clerk.Machine, error)
}

// MachineLookupOptions size the machine token cache (MACHINE_TOKEN_CACHE_*).
type MachineLookupOptions struct {
	Size int // tokens held; default 10000
	// TTL bounds how long a verified credential is believed without
	// asking Clerk again, so a revoked API key stops working within it;
	// default 30s. An entry never outlives the credential's expiry.
	TTL time.Duration
	// NegativeTTL is how long a refusal (unknown, revoked, expired) is
	// remembered; default 5s.
	NegativeTTL time.Duration
	// StaleWindow serves an expired answer this long when Clerk cannot be
	// asked; 0 never does.
	StaleWindow time.Duration
	// VerifyRate bounds the Backend API verify calls per second (opaque
	// credentials not in the cache), VerifyBurst how many may go at once
	// after a quiet spell: each never-seen credential, garbage included,
	// is a call, and Clerk's rate limit is shared with memberships and
	// session refreshes. 0: unbounded.
	VerifyRate  float64
	VerifyBurst int
	// Shared, when set, is the level replicas share (Redis): a credential
	// one replica verified is believed by the others for the rest of its
	// TTL. Refusals stay local.
	Shared cache.Shared
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *MachineLookupOptions) defaults() {
	if o.Size == 0 {
		o.Size = 10000
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// MachineLookup answers MachineTokens through a cache keyed by the
// token's SHA-256 (the token itself is never stored): concurrent misses
// for one token make one call, refusals are remembered briefly as
// refusals, and an outage is never cached at all.
type MachineLookup struct {
	verifier MachineVerifier
	now      func() time.Time
	log      *slog.Logger
	cache    *cache.Cache[[sha256.Size]byte, machineAnswer]
	budget   *callBudget // nil: unbounded
}

// machineAnswer is Clerk's definitive answer on one token: the credential,
// or why it was refused.
type machineAnswer struct {
	machine *clerk.Machine
	refused error
}

// tokenHash is the token's SHA-256, the cache key. The copy to bytes goes
// through a stack buffer: credentials are short, and a hit then allocates
// nothing.
func tokenHash(token string) [sha256.Size]byte {
	var buf [256]byte
	return sha256.Sum256(append(buf[:0], token...))
}

// usable reports an answer that may be given as it is: a refusal, or a
// credential not past its own expiry.
func (a machineAnswer) usable(now time.Time) bool {
	return a.refused != nil || a.machine.Expiration.IsZero() || now.Before(a.machine.Expiration)
}

// machineTokenKey carries the token to the cache's Load, which receives
// only the hash as its key.
type machineTokenKey struct{}

// NewMachineLookup builds the lookup.
func NewMachineLookup(v MachineVerifier, opts MachineLookupOptions) (*MachineLookup, error) {
	opts.defaults()
	l := &MachineLookup{verifier: v, now: opts.Now, log: opts.Logger}
	if opts.VerifyRate > 0 {
		l.budget = newCallBudget(opts.VerifyRate, max(opts.VerifyBurst, 1), opts.Now)
	}
	c, err := cache.New(cache.Options[[sha256.Size]byte, machineAnswer]{
		Size: opts.Size, TTL: opts.TTL, NegativeTTL: opts.NegativeTTL, StaleWindow: opts.StaleWindow,
		Load:       l.load,
		IsNegative: func(a machineAnswer) bool { return a.refused != nil },
		RetryAfter: clerk.RetryAfterOf,
		// A machine JWT verifies with the instance's keys: no Backend API
		// call, so a 429 on opaque tokens does not hold it back (the SDK
		// verifies it regardless).
		CallsRemote: func(ctx context.Context, _ [sha256.Size]byte) bool {
			token, _ := ctx.Value(machineTokenKey{}).(string)
			return !clerk.VerifiesLocally(token)
		},
		Now:    opts.Now,
		Shared: opts.Shared, SharedName: "machine_tokens",
		SharedKey:      func(k [sha256.Size]byte) string { return hex.EncodeToString(k[:]) },
		ParseSharedKey: parseTokenHash,
		Encode:         encodeMachineAnswer,
		Decode:         decodeMachineAnswer,
	})
	if err != nil {
		return nil, fmt.Errorf("machine token cache: %w", err)
	}
	l.cache = c
	return l, nil
}

// Machine verifies token, from the cache when Clerk answered on it
// within the TTL. A cached credential whose own expiry has passed is
// dropped and asked about again, so the answer is Clerk's refusal (or
// 503 while Clerk is down), never the old success.
func (l *MachineLookup) Machine(ctx context.Context, token string) (*clerk.Machine, error) {
	key := tokenHash(token)
	if a, ok := l.cache.Fresh(key); ok && a.usable(l.now()) {
		return a.machine, a.refused
	}
	ctx = context.WithValue(ctx, machineTokenKey{}, token)
	for range 2 {
		a, err := l.cache.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if a.usable(l.now()) {
			return a.machine, a.refused
		}
		l.cache.Delete(key)
	}
	return nil, &clerk.MachineError{Reason: clerk.ReasonTokenInvalid, Message: "the credential has expired"}
}

// Stats are the cache's counters, for metrics.
func (l *MachineLookup) Stats() cache.Stats { return l.cache.Stats() }

// Follow applies other replicas' invalidations until ctx ends (Shared).
func (l *MachineLookup) Follow(ctx context.Context) error { return l.cache.Follow(ctx) }

// errRefusalNotShared keeps refusals out of Shared: each replica asks
// Clerk about a credential it refuses, which costs little (they are
// remembered NegativeTTL) and leaves no refusal for a forged entry to
// turn into an answer.
var errRefusalNotShared = errors.New("refusals are not shared")

func encodeMachineAnswer(a machineAnswer) ([]byte, error) {
	if a.refused != nil || a.machine == nil {
		return nil, errRefusalNotShared
	}
	return json.Marshal(a.machine)
}

func decodeMachineAnswer(b []byte) (machineAnswer, error) {
	var m clerk.Machine
	if err := json.Unmarshal(b, &m); err != nil {
		return machineAnswer{}, fmt.Errorf("shared machine credential: %w", err)
	}
	if m.Type == "" || m.Subject == "" {
		return machineAnswer{}, errors.New("shared machine credential without a type or subject")
	}
	return machineAnswer{machine: &m}, nil
}

// parseTokenHash is the cache key of a hex SHA-256 (Shared's name).
func parseTokenHash(s string) (k [sha256.Size]byte, ok bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

func (l *MachineLookup) load(ctx context.Context, _ [sha256.Size]byte) (machineAnswer, error) {
	token, _ := ctx.Value(machineTokenKey{}).(string)
	// Machine JWTs verify locally; only opaque credentials spend the
	// budget. A throttled call is an outage, never a verdict: cached
	// answers keep serving (stale ones too) and the rest get 503.
	if l.budget != nil && !clerk.VerifiesLocally(token) && !l.budget.take() {
		return machineAnswer{}, errVerifyThrottled
	}
	m, err := l.verifier.Verify(ctx, token)
	if err == nil {
		return machineAnswer{machine: m}, nil
	}
	var me *clerk.MachineError
	if errors.As(err, &me) && !me.Temporary() {
		return machineAnswer{refused: err}, nil
	}
	l.log.Warn("Clerk: machine token verification failed", "reason", string(clerk.ReasonOf(err)), "error", err.Error())
	return machineAnswer{}, err
}

// errVerifyThrottled: the verify call budget is spent.
var errVerifyThrottled = errors.New("machine token verification throttled: too many credentials not seen before (MACHINE_TOKEN_VERIFY_RATE)")

// callBudget is a token bucket: rate calls a second, at most burst at once.
type callBudget struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newCallBudget(rate float64, burst int, now func() time.Time) *callBudget {
	return &callBudget{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

// take spends one call, or reports that none is left.
func (b *callBudget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
