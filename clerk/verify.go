package clerk

import (
	"context"
	"crypto/sha256"
	"math"
	"slices"
	"strings"
	"time"
)

// DefaultClockSkew is @clerk/backend's clockSkewInMs default.
const DefaultClockSkew = 5 * time.Second

// VerifyOptions are the checks beyond the signature.
type VerifyOptions struct {
	// AuthorizedParties, when set, must contain the token's azp exactly.
	AuthorizedParties []string
	// ClockSkew is the leeway for exp, nbf and iat (default 5 s).
	ClockSkew time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// TokenCacheSize bounds the cache of verified tokens (tokencache.go);
	// 0 disables it.
	TokenCacheSize int
}

// The errors of verification, shared values: a refused token costs no
// allocation for its error (fixedTokenError).
var (
	errSessionCategory = fixedTokenError(ReasonTokenInvalid, "Invalid session token category.")
	errTokenType       = fixedTokenError(ReasonTokenInvalid, "Invalid JWT type. Expected \"JWT\".")
	errKeyAlgorithm    = fixedTokenError(ReasonTokenVerificationFailed, "Error verifying JWT signature: key algorithm is RS256")
	errAlgorithm       = fixedTokenError(ReasonTokenInvalidAlgorithm, "Invalid JWT algorithm. Supported: RS256.")
	errSignature       = fixedTokenError(ReasonTokenInvalidSignature, "JWT signature is invalid.")
	errSubject         = fixedTokenError(ReasonTokenVerificationFailed, "Subject claim (sub) is required and must be a string.")
	errAuthorizedParty = fixedTokenError(ReasonTokenInvalidAuthorizedParties, "Invalid JWT Authorized party claim (azp).")
	errExpiryType      = fixedTokenError(ReasonTokenVerificationFailed, "Invalid JWT expiry date claim (exp). Expected number.")
	errExpired         = fixedTokenError(ReasonTokenExpired, "JWT is expired.")
	errNotBefore       = fixedTokenError(ReasonTokenNotActiveYet, "JWT cannot be used prior to not before date claim (nbf).")
	errIssuedInFuture  = fixedTokenError(ReasonTokenIatInTheFuture, "JWT issued at date claim (iat) is in the future.")
	errNoSessionID     = fixedTokenError(ReasonTokenInvalid, "session token has no sid claim")
)

// Verifier checks session tokens the way @clerk/backend verifyToken does,
// plus one defence the SDK lacks: a session token must carry a sid.
type Verifier struct {
	keys  KeySource
	opts  VerifyOptions
	cache *tokenCache // nil when disabled
}

// NewVerifier builds a verifier over a key source.
func NewVerifier(keys KeySource, opts VerifyOptions) *Verifier {
	if opts.ClockSkew == 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{keys: keys, opts: opts}
	if opts.TokenCacheSize > 0 {
		v.cache = newTokenCache(opts.TokenCacheSize, v)
	}
	return v
}

// Keys returns the verifier's key source.
func (v *Verifier) Keys() KeySource { return v.keys }

// Verify decodes and verifies a session token.
func (v *Verifier) Verify(ctx context.Context, token string) (*JWT, error) {
	t, err := v.Decode(token)
	if err != nil {
		return nil, err
	}
	return t, v.VerifyDecoded(ctx, t)
}

// Decode is DecodeJWT, except that a token this verifier has verified
// before comes from the token cache without being decoded again. The
// result may be shared between requests: callers must not modify it. Its
// Signature is empty; VerifyDecoded knows it and re-checks only the claims.
func (v *Verifier) Decode(token string) (*JWT, error) {
	// Garbage that cannot be in the cache is refused without hashing it
	// (mayBeCached). Checking the whole form and the lengths first
	// (DecodeJWT's other checks before decoding) was measured at 6% of a
	// cache hit, and a base64url alphabet scan at 40%, which every request
	// would pay; DecodeJWT does them after a miss.
	if v.cache == nil || len(token) > maxTokenLength || !mayBeCached(token) {
		return DecodeJWT(token)
	}
	key := hashToken(token)
	if t := v.cache.get(&key); t != nil {
		return t, nil
	}
	t, err := DecodeJWT(token)
	if err != nil {
		return nil, err
	}
	t.key, t.hashed = key, true
	return t, nil
}

// mayBeCached is a check of a few bytes that every token in the cache
// passes: it has a dot, and its header and payload can each begin a JSON
// object (first decoded byte "{" or JSON white space), as a token that
// decoded and verified does. Most garbage fails it (API keys, opaque
// tokens and other apps' cookies have no dot; random base64 rarely
// begins with "{"), and is then refused without the ~0.7 µs of hashing a
// token-sized string. When unsure (a part shorter than two characters, or
// characters the base64url decoder skips) it says yes.
func mayBeCached(token string) bool {
	header, payload, ok := strings.Cut(token, ".")
	return ok && mayBeginJSONObject(header) && mayBeginJSONObject(payload)
}

func mayBeginJSONObject(part string) bool {
	if len(part) < 2 {
		return true
	}
	hi, lo := base64URLValue(part[0]), base64URLValue(part[1])
	if hi < 0 || lo < 0 {
		return true
	}
	switch byte(hi<<2 | lo>>4) {
	case '{', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// base64URLValue is the value of a base64url character, or -1.
func base64URLValue(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// VerifyDecoded verifies a decoded token, in the SDK's order: category, key,
// typ, alg, signature (before any claim), sub, azp, exp, nbf, iat. A token
// found in the token cache skips to the claims, which are always checked.
func (v *Verifier) VerifyDecoded(ctx context.Context, t *JWT) error {
	if v.cache != nil {
		if t.cachedBy == v {
			return v.checkCached(t, t)
		}
		if t.raw != "" {
			if !t.hashed {
				t.key, t.hashed = hashToken(t.raw), true
			}
			if c := v.cache.get(&t.key); c != nil {
				return v.checkCached(t, c)
			}
		}
	}
	if t.Header.Cat != nil && *t.Header.Cat == CategoryM2M {
		return errSessionCategory
	}
	key, err := v.keys.Key(ctx, t.Header.Kid)
	if err != nil {
		return err
	}
	if err := v.VerifySignature(t, key); err != nil {
		return err
	}
	if err := v.checkClaims(&t.Claims); err != nil {
		return err
	}
	if v.cache != nil && t.hashed {
		// Only now, with signature and claims good.
		t.Claims.memoizeActiveOrganization()
		v.cache.add(&t.key, encodeTokenEntry(t))
	}
	return nil
}

// checkCached re-checks the claims of a token whose bytes (same SHA-256)
// passed verification before; c is the cached entry. An expired entry is
// dropped.
func (v *Verifier) checkCached(t, c *JWT) error {
	err := v.checkClaims(&t.Claims)
	if err != nil && ReasonOf(err) == ReasonTokenExpired {
		v.cache.remove(&c.key)
	}
	return err
}

// VerifySignature checks typ, alg and the RS256 signature.
func (v *Verifier) VerifySignature(t *JWT, key *PublicKey) error {
	if t.Header.Typ != nil && *t.Header.Typ != "JWT" {
		return errTokenType
	}
	switch t.Header.Alg {
	case "RS256":
	case "RS384", "RS512":
		// Accepted by the SDK's list but refused by its RS256 key import
		// (errata 16): same reason here.
		return errKeyAlgorithm
	default:
		return errAlgorithm
	}
	if len(t.Signature) == 0 {
		return errSignature
	}
	digest := sha256.Sum256([]byte(t.signingInput))
	if !key.verifySHA256(&digest, t.Signature) {
		return errSignature
	}
	return nil
}

func (v *Verifier) checkClaims(c *Claims) error {
	if c.Subject == "" {
		return errSubject
	}
	if len(v.opts.AuthorizedParties) > 0 && (c.AuthorizedParty == "" || !slices.Contains(v.opts.AuthorizedParties, c.AuthorizedParty)) {
		return errAuthorizedParty
	}
	nowMs := float64(v.opts.Now().UnixMilli())
	skewMs := float64(v.opts.ClockSkew.Milliseconds())
	if c.Expiry == nil || !isFinite(*c.Expiry) {
		return errExpiryType
	}
	if *c.Expiry*1000 <= nowMs-skewMs {
		return errExpired
	}
	if c.NotBefore != nil && *c.NotBefore*1000 > nowMs+skewMs {
		return errNotBefore
	}
	if c.IssuedAt != nil && *c.IssuedAt*1000 > nowMs+skewMs {
		return errIssuedInFuture
	}
	if c.SessionID == "" {
		// Not an SDK check: JWT templates signed with the instance key carry
		// no sid and survive sign-out; a session token always has one.
		return errNoSessionID
	}
	return nil
}

func isFinite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
