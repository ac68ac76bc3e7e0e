package clerk

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeySource resolves the RSA key that must have signed a token.
type KeySource interface {
	// Key returns the key for kid. Errors are *TokenError with Clerk's jwk-*
	// reasons; IsKeyUnavailable tells a missing key set (fail closed, 503)
	// from a token naming a key we do not have (signed out).
	Key(ctx context.Context, kid string) (*PublicKey, error)
	// Ready reports whether keys are loaded.
	Ready() bool
}

// StaticKeys is the networkless key from CLERK_JWT_KEY. As in @clerk/backend,
// the token's kid is not compared.
type StaticKeys struct{ key *PublicKey }

// NewStaticKeys parses a PEM "PUBLIC KEY" (PKIX) or its bare base64 body, as
// Clerk's dashboard shows it. Anything but an RSA public key is an error.
func NewStaticKeys(pemOrBase64 string) (*StaticKeys, error) {
	s := strings.TrimSpace(pemOrBase64)
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		// Environment variables often lose their newlines: accept the body
		// alone, with or without the armour lines and whitespace.
		body := strings.NewReplacer("-----BEGIN PUBLIC KEY-----", "", "-----END PUBLIC KEY-----", "", "\\n", "", "\n", "", "\r", "", " ", "").Replace(s)
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, errors.New("not a PEM public key")
		}
		der = b
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %w", err)
	}
	rsaKey, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA public key")
	}
	if rsaKey.N.BitLen() < 2048 {
		return nil, errors.New("RSA key shorter than 2048 bits")
	}
	key, err := NewPublicKey(rsaKey)
	if err != nil {
		return nil, err
	}
	return &StaticKeys{key: key}, nil
}

// Key implements KeySource.
func (s *StaticKeys) Key(context.Context, string) (*PublicKey, error) { return s.key, nil }

// Ready implements KeySource.
func (s *StaticKeys) Ready() bool { return true }

// RemoteKeysOptions tune the Backend API key cache.
type RemoteKeysOptions struct {
	// TTL is how long a fetched key set is fresh (Clerk's SDK: 5 minutes).
	// A stale set keeps serving while one background refresh runs.
	TTL time.Duration
	// MinRefetchInterval throttles fetches caused by unknown kids, so that
	// a flood of tokens with random kids costs Clerk at most one call per
	// interval. Clerk's SDK refetches on every unknown kid.
	MinRefetchInterval time.Duration
	Now                func() time.Time
	// OnFetch, when set, observes every fetch (for metrics).
	OnFetch func(keys int, err error, took time.Duration)
}

// RemoteKeys fetches the instance's JWKS from the Backend API (GET /v1/jwks
// with the secret key) and caches it. Reads are lock-free.
type RemoteKeys struct {
	api  *API
	opts RemoteKeysOptions

	set        atomic.Pointer[keySet]
	mu         sync.Mutex // serialises fetches; waiters share the result
	lastTry    time.Time  // guarded by mu
	refreshing atomic.Bool
}

type keySet struct {
	keys      map[string]*PublicKey
	fetchedAt time.Time
}

// NewRemoteKeys builds the key source; nothing is fetched until the first
// Key or Refresh call.
func NewRemoteKeys(api *API, opts RemoteKeysOptions) *RemoteKeys {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.MinRefetchInterval <= 0 {
		opts.MinRefetchInterval = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RemoteKeys{api: api, opts: opts}
}

// Ready implements KeySource.
func (r *RemoteKeys) Ready() bool { return r.set.Load() != nil }

// Key implements KeySource.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (*PublicKey, error) {
	set := r.set.Load()
	now := r.opts.Now()
	if set != nil {
		if k, ok := set.keys[kid]; ok {
			if now.Sub(set.fetchedAt) > r.opts.TTL {
				r.refreshInBackground()
			}
			return k, nil
		}
	}
	// Unknown kid, or nothing loaded yet: one synchronous, throttled fetch.
	set, err := r.fetchThrottled(ctx, set)
	if err != nil {
		return nil, err
	}
	if k, ok := set.keys[kid]; ok {
		return k, nil
	}
	return nil, tokenError(ReasonJWKKidMismatch, fmt.Sprintf("no signing key matches kid %q", truncate(kid, 64)))
}

// Refresh fetches the key set now (start-up, readiness).
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.fetchLocked(ctx)
	return err
}

func (r *RemoteKeys) refreshInBackground() {
	if !r.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.mu.Lock()
		defer r.mu.Unlock()
		// Throttled like unknown-kid fetches: while the JWKS endpoint
		// fails the set stays stale, and every token naming a known kid
		// (a forged one too: the key is looked up before the signature)
		// would otherwise call Clerk again as soon as the last call ended.
		if !r.lastTry.IsZero() && r.opts.Now().Sub(r.lastTry) < r.opts.MinRefetchInterval {
			return
		}
		_, _ = r.fetchLocked(ctx)
	}()
}

// fetchThrottled fetches unless another fetch finished or was tried within
// MinRefetchInterval; then the current set (or the failure) stands.
func (r *RemoteKeys) fetchThrottled(ctx context.Context, seen *keySet) (*keySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.set.Load(); cur != seen && cur != nil {
		return cur, nil // someone fetched while we waited for the lock
	}
	if !r.lastTry.IsZero() && r.opts.Now().Sub(r.lastTry) < r.opts.MinRefetchInterval {
		if cur := r.set.Load(); cur != nil {
			return cur, nil
		}
		return nil, tokenError(ReasonJWKRemoteFailedToLoad, "JWKS not loaded; next fetch is throttled")
	}
	return r.fetchLocked(ctx)
}

func (r *RemoteKeys) fetchLocked(ctx context.Context) (*keySet, error) {
	prevTry := r.lastTry
	r.lastTry = r.opts.Now()
	start := time.Now()
	set, err := r.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		// Our caller gave up (shutdown, client gone): Clerk was not at
		// fault, so the next caller may try at once.
		r.lastTry = prevTry
	}
	if r.opts.OnFetch != nil {
		n := 0
		if set != nil {
			n = len(set.keys)
		}
		r.opts.OnFetch(n, err, time.Since(start))
	}
	if err != nil {
		return nil, err
	}
	r.set.Store(set)
	return set, nil
}

func (r *RemoteKeys) fetch(ctx context.Context) (*keySet, error) {
	var raw json.RawMessage
	if err := r.api.Get(ctx, "/jwks", nil, &raw); err != nil {
		if apiErr, ok := AsAPIError(err); ok && (apiErr.Status == 401 || apiErr.Code() == "clerk_key_invalid") {
			return nil, tokenError(ReasonSecretKeyInvalid, apiErr.Error())
		}
		return nil, tokenError(ReasonJWKRemoteFailedToLoad, err.Error())
	}
	parsed, err := jwk.Parse(raw)
	if err != nil {
		return nil, tokenError(ReasonJWKRemoteInvalid, "JWKS does not parse: "+err.Error())
	}
	keys := make(map[string]*PublicKey, parsed.Len())
	for i := 0; i < parsed.Len(); i++ {
		k, _ := parsed.Key(i)
		if k.KeyType() != "RSA" {
			continue
		}
		if alg := k.Algorithm().String(); alg != "" && alg != "RS256" {
			continue
		}
		var pub rsa.PublicKey
		if err := k.Raw(&pub); err != nil {
			continue
		}
		// A key NewPublicKey refuses (crypto/rsa would not verify with it
		// either) is skipped like one that does not parse: a token naming
		// it is jwk-kid-mismatch.
		prepared, err := NewPublicKey(&pub)
		if err != nil {
			continue
		}
		keys[k.KeyID()] = prepared
	}
	if len(keys) == 0 {
		return nil, tokenError(ReasonJWKRemoteFailedToLoad, "the JWKS endpoint did not contain any RS256 signing keys")
	}
	return &keySet{keys: keys, fetchedAt: r.opts.Now()}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
