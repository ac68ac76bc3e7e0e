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
	// Audience (CLERK_JWT_AUDIENCE), when set, must contain one of the
	// token's aud values, when it has any (the SDK's audience option).
	Audience []string
	// Issuers (CLERK_JWT_ISSUER), when set, must contain the token's iss
	// (the SDK's issuer option).
	Issuers []string
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
	errNotBeforeType   = fixedTokenError(ReasonTokenVerificationFailed, "Invalid JWT not before date claim (nbf). Expected number.")
	errIssuedAtType    = fixedTokenError(ReasonTokenVerificationFailed, "Invalid JWT issued at date claim (iat). Expected number.")
	errNoSessionID     = fixedTokenError(ReasonTokenInvalid, "session token has no sid claim")
)

// Verifier checks session tokens the way @clerk/backend verifyToken does,
// plus one defence the SDK lacks: a session token must carry a sid.
//
// It has three calls. Lookup answers from the token cache for a token
// verified before; Decode reads a token without verifying it; Verify
// verifies a decoded token and remembers its Session for Lookup.
// VerifyToken and VerifySessionToken chain them for callers with no step
// of their own between.
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

// VerifyToken is Lookup, then Decode and Verify on a miss: the SDK's
// verifyToken.
func (v *Verifier) VerifyToken(ctx context.Context, token string) (*Session, error) {
	return v.verifyToken(ctx, token, false)
}

// VerifySessionToken is VerifyToken for a token presented as a session:
// a machine or non-session token is refused first, with
// token-type-mismatch, as the SDK's authenticateRequest does.
func (v *Verifier) VerifySessionToken(ctx context.Context, token string) (*Session, error) {
	return v.verifyToken(ctx, token, true)
}

func (v *Verifier) verifyToken(ctx context.Context, token string, sessionOnly bool) (*Session, error) {
	if s, err := v.Lookup(token); s != nil {
		return s, err // only session tokens are cached
	}
	t, err := v.Decode(token)
	if err != nil {
		return nil, err
	}
	if sessionOnly {
		if err := t.CheckSessionType(); err != nil {
			return nil, err
		}
	}
	return v.Verify(ctx, t)
}

// Lookup returns the Session of a token this verifier verified before,
// with its times checked against the clock now. The session comes back
// even when its times fail (with the clock error: token-expired,
// token-not-active-yet, token-iat-in-the-future), because the SDK reads an
// expired token's claims before it verifies it. A nil session means the
// token is not in the cache: Decode and Verify it. An expired entry is
// dropped.
func (v *Verifier) Lookup(token string) (*Session, error) {
	// Garbage that cannot be in the cache is refused without hashing it
	// (mayBeCached): the full form checks are DecodeJWT's, on a miss.
	if v.cache == nil || len(token) > maxTokenLength || !mayBeCached(token) {
		return nil, nil
	}
	d := v.cache.lookup(token)
	if d == nil {
		return nil, nil
	}
	s := &d.Session
	err := v.checkTimes(s.Expiry, s.NotBefore, s.HasNotBefore, s.IssuedAt, s.HasIssuedAt)
	if err == errExpired {
		v.cache.removeExpired(d)
	}
	return s, err
}

// Decode is DecodeJWT: the token read, not verified. Each call returns a
// fresh JWT, owned by the caller.
func (v *Verifier) Decode(token string) (*JWT, error) { return DecodeJWT(token) }

// mayBeCached is a check of a few bytes that every token in the cache
// passes: it has a dot, and its header and payload can each begin a JSON
// object (first decoded byte "{" or JSON white space), as a token that
// decoded and verified does. Most garbage fails it (API keys, opaque
// tokens and other apps' cookies have no dot; random base64 rarely
// begins with "{"), and is then refused without hashing a token-sized
// string. When unsure (a part shorter than two characters, or
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
	switch byte(hi<<2 | lo>>4) { //nolint:gosec // hi and lo are 0..63: the value fits in a byte
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

// Verify verifies a decoded session token as the SDK's verifyToken does, in
// its order: category, key, typ, alg, signature (before any claim), sub,
// azp, exp, nbf, iat; then our sid check. The SDK's callers refuse machine
// and non-session tokens before (JWT.CheckSessionType); Verify remembers
// the Session for Lookup only for a token that passes that check too, so
// Lookup never answers for one.
func (v *Verifier) Verify(ctx context.Context, t *JWT) (*Session, error) {
	if t.Header.Cat != nil && *t.Header.Cat == CategoryM2M {
		return nil, errSessionCategory
	}
	key, err := v.keys.Key(ctx, t.Header.Kid)
	if err != nil {
		return nil, err
	}
	if err := v.VerifySignature(t, key); err != nil {
		return nil, err
	}
	if err := v.checkClaims(&t.Claims); err != nil {
		return nil, err
	}
	s := newSession(&t.Claims)
	if v.cache != nil && t.CheckSessionType() == nil {
		// Only now, with signature and claims good.
		k := hashToken(t.raw)
		v.cache.add(&k, s)
	}
	return s, nil
}

// VerifySignature checks typ, alg and the RS256 signature.
func (v *Verifier) VerifySignature(t *JWT, key *PublicKey) error {
	if t.Header.Typ != nil && *t.Header.Typ != "JWT" {
		return errTokenType
	}
	return verifyRS256(t, key)
}

// verifyRS256 checks alg and the RS256 signature, the part of
// VerifySignature that machine JWTs share (their typ rules differ).
func verifyRS256(t *JWT, key *PublicKey) error {
	switch t.Header.Alg {
	case "RS256":
	case "RS384", "RS512":
		// Accepted by the SDK's algorithm list (jwt/verifyJwt.ts) but
		// refused by its RS256 key import (tokens/keys.ts), so
		// token-verification-failed: same reason here
		// (docs/clerk-protocol.md erratum 16).
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

// checkClaims checks the claims in the SDK's order (jwt/verifyJwt.ts):
// sub, aud, azp, iss, then the times.
func (v *Verifier) checkClaims(c *Claims) error {
	if c.Subject == "" {
		return errSubject
	}
	if err := checkAudience(c.Audience, v.opts.Audience); err != nil {
		return err
	}
	if len(v.opts.AuthorizedParties) > 0 && (c.AuthorizedParty == "" || !slices.Contains(v.opts.AuthorizedParties, c.AuthorizedParty)) {
		return errAuthorizedParty
	}
	if err := checkIssuer(c.Issuer, v.opts.Issuers); err != nil {
		return err
	}
	if err := v.checkClaimTimes(c); err != nil {
		return err
	}
	if c.SessionID == "" {
		// Not an SDK check: JWT templates signed with the instance key carry
		// no sid and survive sign-out; a session token always has one.
		return errNoSessionID
	}
	return nil
}

// checkTimes is the SDK's exp, nbf and iat checks, in its order, with the
// clock skew; NaN or infinite nbf and iat compare as the SDK's do.
// checkClaimTimes checks a token's exp (required, a finite number), nbf
// and iat (optional), for session and machine JWTs alike.
func (v *Verifier) checkClaimTimes(c *Claims) error {
	if c.Expiry == nil || !isFinite(*c.Expiry) {
		return errExpiryType
	}
	var nbf, iat float64
	if c.NotBefore != nil {
		nbf = *c.NotBefore
	}
	if c.IssuedAt != nil {
		iat = *c.IssuedAt
	}
	err := v.checkTimes(*c.Expiry, nbf, c.NotBefore != nil, iat, c.IssuedAt != nil)
	// A null nbf or iat fails as not a number, at its place in the SDK's
	// order (exp, nbf, iat); a null claim was skipped by checkTimes.
	if c.nullNotBefore && err != errExpired {
		return errNotBeforeType
	}
	if c.nullIssuedAt && err != errExpired && err != errNotBefore {
		return errIssuedAtType
	}
	return err
}

func (v *Verifier) checkTimes(exp, nbf float64, hasNbf bool, iat float64, hasIat bool) error {
	nowMs := float64(v.opts.Now().UnixMilli())
	skewMs := float64(v.opts.ClockSkew.Milliseconds())
	if claimMillis(exp) <= nowMs-skewMs {
		return errExpired
	}
	if hasNbf && claimMillis(nbf) > nowMs+skewMs {
		return errNotBefore
	}
	if hasIat && claimMillis(iat) > nowMs+skewMs {
		return errIssuedInFuture
	}
	return nil
}

// claimMillis is a time claim in milliseconds as the SDK reads it: its
// Date.setUTCSeconds drops the fraction of a second (towards zero), so exp
// 1000.9 expires at 1000000 ms, not 1000900, and nbf and iat are as
// lenient. (Date also turns times beyond 8.64e15 ms into NaN, which every
// check then passes; we do not: such a claim keeps its value here.)
func claimMillis(sec float64) float64 { return math.Trunc(sec) * 1000 }

func isFinite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
