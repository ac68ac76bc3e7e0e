package clerk_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func newFake(t *testing.T) *clerktest.Server {
	t.Helper()
	return clerktest.Start(t, clerktest.Options{Production: true})
}

func remoteKeys(t *testing.T, fake *clerktest.Server, secret string, opts clerk.RemoteKeysOptions) *clerk.RemoteKeys {
	t.Helper()
	api, err := clerk.NewAPI(fake.URL, "v1", secret, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return clerk.NewRemoteKeys(api, opts)
}

func TestVerifyRejectsWithClerkReasons(t *testing.T) {
	fake := newFake(t)
	key := fake.Key()
	attacker, err := clerktest.NewSigningKey(key.Kid) // same kid, other key
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hdr := func(alg string) clerktest.Header { return clerktest.Header{"alg": alg, "kid": key.Kid, "typ": "JWT"} }
	claims := func(mod func(clerktest.Claims)) clerktest.Claims {
		c := fake.SessionClaims("user_1")
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name   string
		token  string
		reason clerk.Reason // "" = valid
	}{
		{"valid token", fake.Sign(claims(nil)), ""},
		{"expired", fake.Sign(claims(func(c clerktest.Claims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), clerk.ReasonTokenExpired},
		{"expired within the 5 s skew is still valid", fake.Sign(claims(func(c clerktest.Claims) { c["exp"] = now.Add(-3 * time.Second).Unix() })), ""},
		{"not yet valid", fake.Sign(claims(func(c clerktest.Claims) { c["nbf"] = now.Add(time.Minute).Unix() })), clerk.ReasonTokenNotActiveYet},
		{"issued in the future", fake.Sign(claims(func(c clerktest.Claims) { c["iat"] = now.Add(time.Minute).Unix() })), clerk.ReasonTokenIatInTheFuture},
		{"missing exp", fake.Sign(claims(func(c clerktest.Claims) { delete(c, "exp") })), clerk.ReasonTokenVerificationFailed},
		{"missing sub", fake.Sign(claims(func(c clerktest.Claims) { delete(c, "sub") })), clerk.ReasonTokenVerificationFailed},
		{"missing sid (JWT template without cat)", fake.Sign(claims(func(c clerktest.Claims) { delete(c, "sid") })), clerk.ReasonTokenInvalid},
		{"bad signature (other key, same kid)", clerktest.SignWith(attacker, hdr("RS256"), claims(nil)), clerk.ReasonTokenInvalidSignature},
		{"signature checked before exp", clerktest.SignWith(attacker, hdr("RS256"), claims(func(c clerktest.Claims) { c["exp"] = now.Add(-time.Hour).Unix() })), clerk.ReasonTokenInvalidSignature},
		{"alg none", clerktest.SignWith(key, hdr("none"), claims(nil)), clerk.ReasonTokenInvalidAlgorithm},
		{"HS256 signed with the public key", clerktest.SignWith(key, hdr("HS256"), claims(nil)), clerk.ReasonTokenInvalidAlgorithm},
		{"RS384 refused like the SDK", clerktest.SignWith(key, hdr("RS384"), claims(nil)), clerk.ReasonTokenVerificationFailed},
		{"typ other than JWT", clerktest.SignWith(key, clerktest.Header{"alg": "RS256", "kid": key.Kid, "typ": "at+jwt"}, claims(nil)), clerk.ReasonTokenInvalid},
		{"M2M category", clerktest.SignWith(key, clerktest.Header{"alg": "RS256", "kid": key.Kid, "cat": clerk.CategoryM2M}, claims(nil)), clerk.ReasonTokenInvalid},
		{"empty signature", strings.TrimRight(fake.Sign(claims(nil)), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), clerk.ReasonTokenInvalidSignature},
		{"two parts", "a.b", clerk.ReasonTokenInvalid},
		{"four parts", fake.Sign(claims(nil)) + ".x", clerk.ReasonTokenInvalid},
		{"garbage", "not-a-token", clerk.ReasonTokenInvalid},
		{"payload not JSON", clerktest.SignRaw(key, "RS256", []byte(`{"alg":"RS256"}`), []byte("nope")), clerk.ReasonTokenInvalid},
		{"oversized", strings.Repeat("a", 20000) + ".b.c", clerk.ReasonTokenInvalid},
	}
	// The clock is pinned to the minting time: the skew boundaries must
	// not depend on how long the machine took to mint the table.
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: func() time.Time { return now }})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.VerifyToken(context.Background(), tt.token)
			if got := reasonOrEmpty(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
		})
	}
}

func reasonOrEmpty(err error) clerk.Reason {
	if err == nil {
		return ""
	}
	return clerk.ReasonOf(err)
}

func TestVerifyAuthorizedParties(t *testing.T) {
	fake := newFake(t)
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{}),
		clerk.VerifyOptions{AuthorizedParties: []string{"https://app.example.test"}})
	tests := []struct {
		name, azp string
		reason    clerk.Reason
	}{
		{"listed party", "https://app.example.test", ""},
		{"other party", "https://evil.example", clerk.ReasonTokenInvalidAuthorizedParties},
		{"prefix of a listed party", "https://app.example.test.evil", clerk.ReasonTokenInvalidAuthorizedParties},
		{"missing azp", "", clerk.ReasonTokenInvalidAuthorizedParties},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.SessionClaims("user_1")
			if tt.azp == "" {
				delete(c, "azp")
			} else {
				c["azp"] = tt.azp
			}
			_, err := v.VerifyToken(context.Background(), fake.Sign(c))
			if got := reasonOrEmpty(err); got != tt.reason {
				t.Fatalf("reason = %q, want %q", got, tt.reason)
			}
		})
	}
}

func TestRemoteKeysThrottleUnknownKidRefetches(t *testing.T) {
	fake := newFake(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	keys := remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{MinRefetchInterval: 10 * time.Second, Now: clock})
	v := clerk.NewVerifier(keys, clerk.VerifyOptions{})
	if _, err := v.VerifyToken(context.Background(), fake.Sign(fake.SessionClaims("user_1"))); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		for i := 0; i < 200; i++ {
			tok := clerktest.SignWith(fake.Key(), clerktest.Header{"alg": "RS256", "kid": fmt.Sprintf("random-%d", i)}, fake.SessionClaims("user_1"))
			_, err := v.VerifyToken(context.Background(), tok)
			if clerk.ReasonOf(err) != clerk.ReasonJWKKidMismatch {
				t.Fatalf("reason = %v, want jwk-kid-mismatch", err)
			}
		}
	}
	flood()
	if n := fake.Calls("GET /v1/jwks"); n != 1 {
		t.Fatalf("JWKS fetched %d times within the interval, want 1", n)
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	flood()
	if n := fake.Calls("GET /v1/jwks"); n != 2 {
		t.Fatalf("JWKS fetched %d times after the interval, want 2", n)
	}
}

func TestRemoteKeysPickUpARotatedKey(t *testing.T) {
	fake := newFake(t)
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{MinRefetchInterval: time.Nanosecond}), clerk.VerifyOptions{})
	if _, err := v.VerifyToken(context.Background(), fake.Sign(fake.SessionClaims("user_1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(context.Background(), fake.Sign(fake.SessionClaims("user_1"))); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
}

func TestRemoteKeysFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*clerktest.Server) string // returns the secret key to use
		reason clerk.Reason
	}{
		{"wrong secret key", func(f *clerktest.Server) string { return "sk_live_wrong" }, clerk.ReasonSecretKeyInvalid},
		{"JWKS answers 500", func(f *clerktest.Server) string { f.SetJWKSResponse(500, `{"errors":[]}`); return f.SecretKey }, clerk.ReasonJWKRemoteFailedToLoad},
		{"JWKS is garbage", func(f *clerktest.Server) string {
			f.SetJWKSResponse(200, `{"keys":[{"kty":"RSA","n":"!!"}]}`)
			return f.SecretKey
		}, clerk.ReasonJWKRemoteInvalid},
		{"JWKS is empty", func(f *clerktest.Server) string { f.SetJWKSResponse(200, `{"keys":[]}`); return f.SecretKey }, clerk.ReasonJWKRemoteFailedToLoad},
		// Keys crypto/rsa refuses to verify with are skipped like keys that
		// do not parse (clerk.NewPublicKey).
		{"JWKS key with an even modulus", func(f *clerktest.Server) string {
			f.SetJWKSResponse(200, jwksWithRSAKey(append(bytes.Repeat([]byte{0xff}, 255), 0xfe), "AQAB"))
			return f.SecretKey
		}, clerk.ReasonJWKRemoteFailedToLoad},
		{"JWKS key with exponent 1", func(f *clerktest.Server) string {
			f.SetJWKSResponse(200, jwksWithRSAKey(bytes.Repeat([]byte{0xff}, 256), "AQ"))
			return f.SecretKey
		}, clerk.ReasonJWKRemoteFailedToLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			secret := tt.setup(fake)
			v := clerk.NewVerifier(remoteKeys(t, fake, secret, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
			_, err := v.VerifyToken(context.Background(), fake.Sign(fake.SessionClaims("user_1")))
			if got := clerk.ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
			if !clerk.IsKeyUnavailable(err) {
				t.Fatalf("%v should count as keys unavailable (fail closed)", err)
			}
		})
	}
}

func TestRemoteKeysUnreachableClerk(t *testing.T) {
	api, _ := clerk.NewAPI("http://127.0.0.1:1", "v1", "sk_live_x", "test", &http.Client{Timeout: time.Second})
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	fake := newFake(t)
	_, err := v.VerifyToken(context.Background(), fake.Sign(fake.SessionClaims("user_1")))
	if clerk.ReasonOf(err) != clerk.ReasonJWKRemoteFailedToLoad {
		t.Fatalf("got %v", err)
	}
}

func TestStaticKeys(t *testing.T) {
	fake := newFake(t)
	pemKey := fake.Key().PublicKeyPEM()
	body := strings.Join(strings.Split(strings.TrimSpace(pemKey), "\n")[1:len(strings.Split(strings.TrimSpace(pemKey), "\n"))-1], "")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"PEM", pemKey, true},
		{"PEM with escaped newlines from an env file", strings.ReplaceAll(pemKey, "\n", `\n`), true},
		{"bare base64 body", body, true},
		{"EC key", ecPEM, false},
		{"garbage", "hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := clerk.NewStaticKeys(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok {
				return
			}
			// The networkless key ignores the token's kid, as the SDK does.
			tok := clerktest.SignWith(fake.Key(), clerktest.Header{"alg": "RS256", "kid": "anything"}, fake.SessionClaims("user_1"))
			if _, err := clerk.NewVerifier(keys, clerk.VerifyOptions{}).VerifyToken(context.Background(), tok); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

// jwksWithRSAKey is a JWKS holding one RS256 key of modulus n and
// base64url exponent e.
func jwksWithRSAKey(n []byte, e string) string {
	return fmt.Sprintf(`{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"ins_test","n":%q,"e":%q}]}`, base64.RawURLEncoding.EncodeToString(n), e)
}

// TestRemoteKeysThrottleBackgroundRefreshWhileClerkFails: once the key set
// is stale, every token naming a known kid (forged ones included: the key
// is looked up before the signature) starts a background refresh. While
// the JWKS endpoint fails, the set stays stale, so without a throttle each
// request after the previous refresh finished would call Clerk again.
func TestRemoteKeysThrottleBackgroundRefreshWhileClerkFails(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"JWKS answers 500", 500, `{"errors":[{"code":"internal_clerk_error","message":"x"}]}`},
		{"JWKS answers 429", 429, `{"errors":[{"code":"too_many_requests","message":"x"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			keys := remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{TTL: time.Minute, MinRefetchInterval: 10 * time.Second, Now: clock})
			if err := keys.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			fake.SetJWKSResponse(tt.status, tt.body)
			mu.Lock()
			now = now.Add(2 * time.Minute) // stale
			mu.Unlock()
			fake.ResetCalls()
			for i := 0; i < 20; i++ {
				if _, err := keys.Key(context.Background(), fake.Key().Kid); err != nil {
					t.Fatalf("the stale set must keep serving: %v", err)
				}
				time.Sleep(10 * time.Millisecond) // let a background refresh finish
			}
			if n := fake.Calls("GET /v1/jwks"); n != 1 {
				t.Fatalf("JWKS fetched %d times within one refetch interval while failing, want 1", n)
			}
		})
	}
}

// sdkTimesNow is the clock of the time tests: half a second past a whole
// second, so that a fractional claim and its whole second fall on either
// side of the 5 s skew boundaries.
var sdkTimesNow = time.UnixMilli(1_700_000_000_500)

// sdkTimesCases are exp, nbf and iat values around the skew boundaries,
// with the reason @clerk/backend gives (TestTokenTimesMatchClerkSDK checks
// these against it). Its Date.setUTCSeconds drops the fraction of a
// second: exp 1699999995.9 is 1699999995000 ms, expired at
// 1700000000500 - 5000.
var sdkTimesCases = []struct {
	name          string
	exp, nbf, iat float64
	reason        clerk.Reason
}{
	{"whole-second exp just inside the skew", 1699999996, 1699999990, 1699999990, ""},
	{"whole-second exp at the skew boundary", 1699999995, 1699999990, 1699999990, clerk.ReasonTokenExpired},
	{"fractional exp counts whole seconds", 1699999995.9, 1699999990, 1699999990, clerk.ReasonTokenExpired},
	{"fractional nbf counts whole seconds", 1700000060, 1700000005.9, 1699999990, ""},
	{"whole-second nbf beyond the skew", 1700000060, 1700000006, 1699999990, clerk.ReasonTokenNotActiveYet},
	{"fractional iat counts whole seconds", 1700000060, 1699999990, 1700000005.9, ""},
	{"whole-second iat beyond the skew", 1700000060, 1699999990, 1700000006, clerk.ReasonTokenIatInTheFuture},
	{"negative fractional exp truncates towards zero", -0.9, 1699999990, 1699999990, clerk.ReasonTokenExpired},
}

func sdkTimesToken(fake *clerktest.Server, exp, nbf, iat float64) string {
	c := fake.SessionClaims("user_1")
	c["exp"], c["nbf"], c["iat"] = exp, nbf, iat
	return fake.Sign(c)
}

// TestTokenTimesCountWholeSeconds: exp, nbf and iat are compared as the
// SDK compares them, in whole seconds, on a first verification and on a
// token cache hit alike.
func TestTokenTimesCountWholeSeconds(t *testing.T) {
	fake := newFake(t)
	keys := remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{})
	var mu sync.Mutex
	now := sdkTimesNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	for _, tt := range sdkTimesCases {
		t.Run(tt.name, func(t *testing.T) {
			token := sdkTimesToken(fake, tt.exp, tt.nbf, tt.iat)
			setClock(sdkTimesNow)
			v := clerk.NewVerifier(keys, clerk.VerifyOptions{Now: clock})
			if _, err := v.VerifyToken(context.Background(), token); reasonOrEmpty(err) != tt.reason {
				t.Fatalf("verify: reason = %q (%v), want %q", reasonOrEmpty(err), err, tt.reason)
			}
			// Cached while valid (ten seconds earlier, or later), then
			// looked up at sdkTimesNow.
			cached := clerk.NewVerifier(keys, clerk.VerifyOptions{Now: clock, TokenCacheSize: 10})
			verified := false
			for _, at := range []time.Duration{-10 * time.Second, 10 * time.Second} {
				setClock(sdkTimesNow.Add(at))
				if _, err := cached.VerifyToken(context.Background(), token); err == nil {
					verified = true
					break
				}
			}
			if !verified {
				return // never valid: nothing to look up
			}
			setClock(sdkTimesNow)
			if s, err := cached.Lookup(token); s == nil || reasonOrEmpty(err) != tt.reason {
				t.Fatalf("lookup: session %v, reason = %q, want %q", s != nil, reasonOrEmpty(err), tt.reason)
			}
		})
	}
}

// TestTokenTimesMatchClerkSDK runs sdkTimesCases through @clerk/backend's
// verifyToken (node, with CLERK_JWT_KEY and Date.now pinned to
// sdkTimesNow) and requires the reasons the table states.
func TestTokenTimesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	fake := newFake(t)
	cases := make([]sdkCase, len(sdkTimesCases))
	for i, tt := range sdkTimesCases {
		cases[i] = sdkCase{tt.name, sdkTimesToken(fake, tt.exp, tt.nbf, tt.iat), tt.reason}
	}
	wantSDKReasons(t, nodePath, fake, sdkTimesNow, cases)
}

// sdkVerifyReasons runs tokens through @clerk/backend's verifyToken with
// pem as CLERK_JWT_KEY and Date.now pinned to now, and returns each
// failure's reason ("" when the token verified).
func sdkVerifyReasons(t *testing.T, nodePath, pem string, now time.Time, tokens []string) []string {
	t.Helper()
	var reasons []string
	clerktest.RunNode(t, nodePath, map[string]any{"pem": pem, "now": now.UnixMilli(), "tokens": tokens}, &reasons, "-e", `
const { verifyToken } = require("@clerk/backend");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
Date.now = () => input.now;
(async () => {
  const out = [];
  for (const token of input.tokens) {
    try { await verifyToken(token, { jwtKey: input.pem }); out.push(""); }
    catch (e) { out.push(e.reason || String(e)); }
  }
  process.stdout.write(JSON.stringify(out));
})();`)
	if len(reasons) != len(tokens) {
		t.Fatalf("node output: %d reasons for %d tokens", len(reasons), len(tokens))
	}
	return reasons
}

// sdkCase is a token and the reason the SDK, and we, refuse it with (""
// when it verifies).
type sdkCase struct {
	name, token string
	reason      clerk.Reason
}

// wantSDKReasons runs cases through the SDK (sdkVerifyReasons) and
// requires the reasons the table states.
func wantSDKReasons(t *testing.T, nodePath string, fake *clerktest.Server, now time.Time, cases []sdkCase) {
	t.Helper()
	tokens := make([]string, len(cases))
	for i, tt := range cases {
		tokens[i] = tt.token
	}
	reasons := sdkVerifyReasons(t, nodePath, fake.Key().PublicKeyPEM(), now, tokens)
	for i, tt := range cases {
		if clerk.Reason(reasons[i]) != tt.reason {
			t.Errorf("%s: SDK reason %q, table says %q", tt.name, reasons[i], tt.reason)
		}
	}
}

// base64Variants are forms of a valid token that the SDK's base64url
// decoder (loose, rfc4648-style) refuses: a character outside the
// alphabet, CR and LF included, and a last character whose unused low
// bits are not zero. Go's decoder skips CR and LF and, unless Strict,
// ignores the unused bits, which would let these through with the
// original's signature. Trailing "=" is accepted by both.
func base64Variants(token string) []sdkCase {
	h, rest, _ := strings.Cut(token, ".")
	p, sig, _ := strings.Cut(rest, ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := sig[len(sig)-1]
	// A 256-byte signature is 342 characters: the last one carries 4
	// unused bits, of which this sets the lowest.
	flipped := alphabet[strings.IndexByte(alphabet, last)^1]
	return []sdkCase{
		{"as minted", token, ""},
		{"padding added to the signature", token + "==", ""},
		{"unused bits set in the signature", h + "." + p + "." + sig[:len(sig)-1] + string(flipped), clerk.ReasonTokenInvalid},
		{"LF in the signature", h + "." + p + "." + sig[:10] + "\n" + sig[10:], clerk.ReasonTokenInvalid},
		{"CR in the signature", h + "." + p + "." + sig[:10] + "\r" + sig[10:], clerk.ReasonTokenInvalid},
		{"CRLF in the signature", h + "." + p + "." + sig[:10] + "\r\n" + sig[10:], clerk.ReasonTokenInvalid},
		{"LF in the payload", h + "." + p[:10] + "\n" + p[10:] + "." + sig, clerk.ReasonTokenInvalid},
		{"LF in the header", h[:5] + "\n" + h[5:] + "." + p + "." + sig, clerk.ReasonTokenInvalid},
	}
}

// TestVerifyRefusesBase64TheSDKRefuses: a valid token rewritten into a
// base64 form the SDK cannot decode is token-invalid, not accepted (nor
// token-invalid-signature), whether verified or merely decoded.
func TestVerifyRefusesBase64TheSDKRefuses(t *testing.T) {
	fake := newFake(t)
	now := time.Now()
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: func() time.Time { return now }, TokenCacheSize: 10})
	for _, tt := range base64Variants(fake.Sign(fake.SessionClaims("user_1"))) {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.VerifyToken(context.Background(), tt.token)
			if got := reasonOrEmpty(err); got != tt.reason {
				t.Fatalf("verify: reason = %q (%v), want %q", got, err, tt.reason)
			}
			if _, err := v.Decode(tt.token); (err != nil) != (tt.reason != "") {
				t.Fatalf("decode: %v, want an error: %v", err, tt.reason != "")
			}
		})
	}
}

// TestBase64VariantsMatchClerkSDK holds base64Variants to the SDK.
func TestBase64VariantsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	fake := newFake(t)
	now := time.Now()
	wantSDKReasons(t, nodePath, fake, now, base64Variants(fake.Sign(fake.SessionClaims("user_1"))))
}

// nullHeaderCases are header parameters given as JSON null, which the
// SDK compares like any other value (null is not undefined): typ null is
// not "JWT" (token-invalid), cat null is a non-session category (a
// session token presented with it is token-type-mismatch; verifyToken
// itself only refuses the M2M category).
func nullHeaderCases(fake *clerktest.Server) []struct {
	name, token         string
	reason, sessionOnly clerk.Reason
} {
	kid := fake.Key().Kid
	sign := func(h clerktest.Header) string {
		return clerktest.SignWith(fake.Key(), h, fake.SessionClaims("user_1"))
	}
	return []struct {
		name, token         string
		reason, sessionOnly clerk.Reason
	}{
		{"typ JWT", sign(clerktest.Header{"alg": "RS256", "kid": kid, "typ": "JWT"}), "", ""},
		{"typ null", sign(clerktest.Header{"alg": "RS256", "kid": kid, "typ": nil}), clerk.ReasonTokenInvalid, clerk.ReasonTokenInvalid},
		{"cat null", sign(clerktest.Header{"alg": "RS256", "kid": kid, "cat": nil}), "", clerk.ReasonTokenTypeMismatch},
		{"cat session", sign(clerktest.Header{"alg": "RS256", "kid": kid, "cat": clerk.CategorySession}), "", ""},
	}
}

// TestHeaderNullIsNotAbsent: typ and cat given as null are refused where
// the SDK refuses them, when verifying a token, when checking that it is
// a session token, and in a handshake token.
func TestHeaderNullIsNotAbsent(t *testing.T) {
	fake := newFake(t)
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	for _, tt := range nullHeaderCases(fake) {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.VerifyToken(context.Background(), tt.token); reasonOrEmpty(err) != tt.reason {
				t.Fatalf("VerifyToken: reason = %q (%v), want %q", reasonOrEmpty(err), err, tt.reason)
			}
			if _, err := v.VerifySessionToken(context.Background(), tt.token); reasonOrEmpty(err) != tt.sessionOnly {
				t.Fatalf("VerifySessionToken: reason = %q (%v), want %q", reasonOrEmpty(err), err, tt.sessionOnly)
			}
		})
	}
	// A handshake token: the SDK refuses typ null (not "JWT") and cat null
	// (a non-session category), both token-invalid.
	for _, h := range []clerktest.Header{{"typ": nil}, {"cat": nil}} {
		h["alg"], h["kid"] = "RS256", fake.Key().Kid
		tok := clerktest.SignWith(fake.Key(), h, clerktest.Claims{"handshake": []string{"__session=x; Path=/"}})
		if _, err := v.VerifyHandshake(context.Background(), tok); clerk.ReasonOf(err) != clerk.ReasonTokenInvalid {
			t.Errorf("handshake with header %v: %v, want token-invalid", h, err)
		}
	}
}

// TestNullHeaderCasesMatchClerkSDK holds nullHeaderCases' verifyToken
// reasons to the SDK.
func TestNullHeaderCasesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	fake := newFake(t)
	var cases []sdkCase
	for _, tt := range nullHeaderCases(fake) {
		cases = append(cases, sdkCase{tt.name, tt.token, tt.reason})
	}
	wantSDKReasons(t, nodePath, fake, time.Now(), cases)
}

// nullTimeCases are nbf and iat given as JSON null, which the SDK's
// assertions refuse as not numbers (token-verification-failed), in its
// order: exp first, then nbf, then iat.
func nullTimeCases(fake *clerktest.Server, now time.Time) []sdkCase {
	sign := func(mod func(clerktest.Claims)) string {
		c := fake.SessionClaims("user_1")
		c["exp"], c["nbf"], c["iat"] = now.Add(time.Minute).Unix(), now.Add(-time.Second).Unix(), now.Add(-time.Second).Unix()
		mod(c)
		return fake.Sign(c)
	}
	return []sdkCase{
		{"nbf and iat absent", sign(func(c clerktest.Claims) { delete(c, "nbf"); delete(c, "iat") }), ""},
		{"nbf null", sign(func(c clerktest.Claims) { c["nbf"] = nil }), clerk.ReasonTokenVerificationFailed},
		{"iat null", sign(func(c clerktest.Claims) { c["iat"] = nil }), clerk.ReasonTokenVerificationFailed},
		{"expired with nbf null", sign(func(c clerktest.Claims) { c["exp"], c["nbf"] = now.Add(-time.Minute).Unix(), nil }), clerk.ReasonTokenExpired},
		{"nbf in the future with iat null", sign(func(c clerktest.Claims) { c["nbf"], c["iat"] = now.Add(time.Minute).Unix(), nil }), clerk.ReasonTokenNotActiveYet},
		{"nbf null with iat in the future", sign(func(c clerktest.Claims) { c["nbf"], c["iat"] = nil, now.Add(time.Minute).Unix() }), clerk.ReasonTokenVerificationFailed},
	}
}

// TestNullTimeClaimsAreNotAbsent: a null nbf or iat fails verification
// where the SDK fails it, instead of counting as absent.
func TestNullTimeClaimsAreNotAbsent(t *testing.T) {
	fake := newFake(t)
	now := time.Now()
	v := clerk.NewVerifier(remoteKeys(t, fake, fake.SecretKey, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: func() time.Time { return now }})
	for _, tt := range nullTimeCases(fake, now) {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.VerifyToken(context.Background(), tt.token); reasonOrEmpty(err) != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", reasonOrEmpty(err), err, tt.reason)
			}
		})
	}
}

// TestNullTimeCasesMatchClerkSDK holds nullTimeCases to the SDK.
func TestNullTimeCasesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	fake := newFake(t)
	now := time.Now()
	wantSDKReasons(t, nodePath, fake, now, nullTimeCases(fake, now))
}
