package clerk

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"math"
	"slices"
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
		v.cache = newTokenCache(opts.TokenCacheSize)
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
	if v.cache == nil || len(token) > maxTokenLength {
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
		return tokenError(ReasonTokenInvalid, "Invalid session token category.")
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
		v.cache.add(&t.key, newCachedToken(t, v))
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
func (v *Verifier) VerifySignature(t *JWT, key *rsa.PublicKey) error {
	if t.Header.Typ != nil && *t.Header.Typ != "JWT" {
		return tokenError(ReasonTokenInvalid, "Invalid JWT type. Expected \"JWT\".")
	}
	switch t.Header.Alg {
	case "RS256":
	case "RS384", "RS512":
		// Accepted by the SDK's list but refused by its RS256 key import
		// (errata 16): same reason here.
		return tokenError(ReasonTokenVerificationFailed, "Error verifying JWT signature: key algorithm is RS256")
	default:
		return tokenError(ReasonTokenInvalidAlgorithm, "Invalid JWT algorithm. Supported: RS256.")
	}
	if len(t.Signature) == 0 {
		return tokenError(ReasonTokenInvalidSignature, "JWT signature is invalid.")
	}
	digest := sha256.Sum256([]byte(t.signingInput))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.Signature); err != nil {
		return tokenError(ReasonTokenInvalidSignature, "JWT signature is invalid.")
	}
	return nil
}

func (v *Verifier) checkClaims(c *Claims) error {
	if c.Subject == "" {
		return tokenError(ReasonTokenVerificationFailed, "Subject claim (sub) is required and must be a string.")
	}
	if len(v.opts.AuthorizedParties) > 0 && (c.AuthorizedParty == "" || !slices.Contains(v.opts.AuthorizedParties, c.AuthorizedParty)) {
		return tokenError(ReasonTokenInvalidAuthorizedParties, "Invalid JWT Authorized party claim (azp).")
	}
	nowMs := float64(v.opts.Now().UnixMilli())
	skewMs := float64(v.opts.ClockSkew.Milliseconds())
	if c.Expiry == nil || !isFinite(*c.Expiry) {
		return tokenError(ReasonTokenVerificationFailed, "Invalid JWT expiry date claim (exp). Expected number.")
	}
	if *c.Expiry*1000 <= nowMs-skewMs {
		return tokenError(ReasonTokenExpired, "JWT is expired.")
	}
	if c.NotBefore != nil && *c.NotBefore*1000 > nowMs+skewMs {
		return tokenError(ReasonTokenNotActiveYet, "JWT cannot be used prior to not before date claim (nbf).")
	}
	if c.IssuedAt != nil && *c.IssuedAt*1000 > nowMs+skewMs {
		return tokenError(ReasonTokenIatInTheFuture, "JWT issued at date claim (iat) is in the future.")
	}
	if c.SessionID == "" {
		// Not an SDK check: JWT templates signed with the instance key carry
		// no sid and survive sign-out; a session token always has one.
		return tokenError(ReasonTokenInvalid, "session token has no sid claim")
	}
	return nil
}

func isFinite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
