package handlers

// The bad-input corpus: one row per attack, named after it, each replayed
// against every proxy endpoint of a service wired as main.go wires it
// (fake Clerk Backend API, RemoteKeys, Verifier, Engine, NewRouter). A row
// names the status and reason it must get; none may get a 200 unless it
// says why, none may panic. SECURITY.md maps the known attacks to the
// rows here.

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// attackEnv is one deployment under attack.
type attackEnv struct {
	fake    *clerktest.Server
	engine  *authz.Engine
	handler http.Handler
	logs    *authztest.LogBuffer
	// secrets are the machine credentials the corpus made, which must
	// never reach the logs.
	secrets []string
}

// publicPrefixPolicy stands in for the policy file: GET and HEAD under
// /public/ are public, everything else needs a session. It matches the
// path the engine hands it, so a path that reaches it un-normalised shows
// up as a bypass.
type publicPrefixPolicy struct{}

func (publicPrefixPolicy) Match(host, path, method string) *authz.Rule {
	if strings.HasPrefix(path, "/public/") && (method == "GET" || method == "HEAD") {
		return &authz.Rule{Public: true}
	}
	for prefix, rule := range machineAttackRoutes {
		if strings.HasPrefix(path, prefix) {
			return rule
		}
	}
	return nil
}

// machineAttackRoutes are the corpus's routes for machine credentials:
// machine-only, and shared by sessions and API keys.
var machineAttackRoutes = map[string]*authz.Rule{
	"/machine/": mustRule("token=api_key,m2m_token,oauth_token"),
	"/mixed/":   mustRule("token=session_token,api_key"),
}

func mustRule(query string) *authz.Rule {
	q, err := url.ParseQuery(query)
	if err != nil {
		panic(err)
	}
	r, err := authz.ParseRuleQuery(q)
	if err != nil {
		panic(err)
	}
	return r
}

func newAttackEnv(t testing.TB, minRefetch time.Duration) *attackEnv {
	t.Helper()
	env := authztest.New(t, authztest.Options{
		Fake:         clerktest.Options{Production: true},
		UserAgent:    "attacks-test",
		HTTPClient:   &http.Client{Timeout: 5 * time.Second},
		RemoteKeys:   clerk.RemoteKeysOptions{MinRefetchInterval: minRefetch},
		PrefetchKeys: true, // main's loadKeys
		Engine:       authz.Options{Policy: publicPrefixPolicy{}},
		Log:          true,
		Setup:        withMachineTokens(t),
	})
	return &attackEnv{fake: env.Fake, engine: env.Engine, handler: NewRouter(Options{Engine: env.Engine, Logger: env.Logger}), logs: env.Logs}
}

// original is the request the client sent to the proxy.
type original struct {
	method  string   // default GET
	scheme  string   // default https
	host    string   // default app.example.test
	uri     string   // request-target as sent; default /app
	headers []string // client headers (name, value, …) in order; duplicates kept
}

// proxyEndpoint turns an original request into the subrequest a proxy
// sends, as wire text (so odd bytes reach the service exactly as
// net/http's parser delivers them). own=false leaves out the endpoint's
// own header family (a misconfigured proxy or a direct caller).
type proxyEndpoint struct {
	name   string
	subreq func(o original, own bool) string
	hasOwn bool // the family can be left out (not Envoy's: it is the request line)
}

var proxyEndpoints = []proxyEndpoint{
	{name: "forward-auth", hasOwn: true, subreq: func(o original, own bool) string {
		h := ""
		if own {
			h = "X-Forwarded-Method: " + o.method + "\r\nX-Forwarded-Proto: " + o.scheme + "\r\nX-Forwarded-Host: " + o.host + "\r\nX-Forwarded-Uri: " + o.uri + "\r\n"
		}
		return "GET /forward-auth HTTP/1.1\r\nHost: auth.internal:8080\r\n" + h
	}},
	{name: "auth-request", hasOwn: true, subreq: func(o original, own bool) string {
		h := ""
		if own {
			h = "X-Original-Method: " + o.method + "\r\nX-Original-URL: " + o.scheme + "://" + o.host + o.uri + "\r\n"
		}
		return "GET /auth-request HTTP/1.1\r\nHost: auth.internal:8080\r\n" + h
	}},
	{name: "auth-request (X-Original-URI)", hasOwn: true, subreq: func(o original, own bool) string {
		h := ""
		if own {
			h = "X-Original-Method: " + o.method + "\r\nX-Original-URI: " + o.uri + "\r\nX-Forwarded-Proto: " + o.scheme + "\r\n"
		}
		return "GET /auth-request HTTP/1.1\r\nHost: " + o.host + "\r\n" + h
	}},
	{name: "ext-authz", subreq: func(o original, _ bool) string {
		return o.method + " /ext-authz" + o.uri + " HTTP/1.1\r\nHost: " + o.host + "\r\nX-Forwarded-Proto: " + o.scheme + "\r\n"
	}},
}

// reply is what the service answered.
type reply struct {
	status int
	header http.Header
	reason string // X-Clerk-Auth-Reason, else the JSON body's reason
	body   string
}

// send replays one original request through one endpoint. A request that
// net/http's own parser refuses never reaches a handler: it is a 400.
func (env *attackEnv) send(t *testing.T, ep proxyEndpoint, o original, own bool) reply {
	t.Helper()
	if o.method == "" {
		o.method = "GET"
	}
	if o.scheme == "" {
		o.scheme = "https"
	}
	if o.host == "" {
		o.host = "app.example.test"
	}
	if o.uri == "" {
		o.uri = "/app"
	}
	var b strings.Builder
	b.WriteString(ep.subreq(o, own))
	for i := 0; i+1 < len(o.headers); i += 2 {
		b.WriteString(o.headers[i] + ": " + o.headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return reply{status: http.StatusBadRequest, reason: "net/http: " + err.Error()}
	}
	r.RemoteAddr = "10.0.0.2:41000"
	w := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v", p)
			}
		}()
		env.handler.ServeHTTP(w, r)
	}()
	rep := reply{status: w.Code, header: w.Header(), reason: w.Header().Get("X-Clerk-Auth-Reason"), body: w.Body.String()}
	if rep.reason == "" {
		var body struct{ Reason string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		rep.reason = body.Reason
	}
	return rep
}

// token helpers -----------------------------------------------------------

func seg(v any) string {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (env *attackEnv) header(extra clerktest.Header) clerktest.Header {
	h := clerktest.Header{"alg": "RS256", "kid": env.fake.Key().Kid, "typ": "JWT", "cat": clerk.CategorySession}
	for k, v := range extra {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return h
}

func (env *attackEnv) claims(extra clerktest.Claims) clerktest.Claims {
	c := env.fake.SessionClaims("user_victim")
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// signed signs with the instance's real key.
func (env *attackEnv) signed(h clerktest.Header, c clerktest.Claims) string {
	return clerktest.SignWith(env.fake.Key(), env.header(h), env.claims(c))
}

// signedRawClaims signs arbitrary payload bytes with the real key.
func (env *attackEnv) signedRawClaims(payload string) string {
	h, _ := json.Marshal(env.header(nil))
	return clerktest.SignRaw(env.fake.Key(), "RS256", h, []byte(payload))
}

func randomKid() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "ins_" + base64.RawURLEncoding.EncodeToString(b)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func sessionCookie(tok string) []string {
	return []string{"Cookie", "__session=" + tok + "; __client_uat=" + fmt.Sprint(time.Now().Unix()-30)}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// the corpus --------------------------------------------------------------

// attackRow is one attack. want is the status on every endpoint it runs
// on; reasons the acceptable reasons (Clerk's or ours) when the status is
// not 400 (400 bodies carry our parser's message).
type attackRow struct {
	name     string
	o        original
	noOwn    bool     // leave out the endpoint's own header family
	only     []string // endpoint names; empty = all
	want     int
	reasons  []string
	wantUser string // on 200: the X-Auth-User-Id that must be sent
	// wantLocation: on a redirect, the exact Location (never a foreign
	// origin, never a token in it).
	wantLocation string
}

func (env *attackEnv) corpus(t *testing.T, jkuURL string) []attackRow {
	attacker, err := clerktest.NewSigningKey(env.fake.Key().Kid)
	if err != nil {
		t.Fatal(err)
	}
	valid := env.signed(nil, nil)
	validParts := strings.Split(valid, ".")
	now := time.Now().Unix()
	const (
		invalid         = "token-invalid"
		badAlg          = "token-invalid-algorithm"
		badSig          = "token-invalid-signature"
		kidMismatch     = "jwk-kid-mismatch"
		typeMismatch    = "token-type-mismatch"
		verifyFailed    = "token-verification-failed"
		noSession       = "session-token-and-uat-missing"
		expiredNoCookie = "session-token-expired-refresh-non-eligible-no-refresh-cookie"
	)
	embedded := clerktest.Header{
		"jku": jkuURL + "/jwks.json",
		"x5u": jkuURL + "/cert.pem",
		"jwk": map[string]any{"kty": "RSA", "kid": "attacker", "n": seg(string(attacker.Private.N.Bytes())), "e": "AQAB"},
	}
	attackerHeader := env.header(embedded)
	attackerHeader["kid"] = "attacker"
	apiKey, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_keyholder", Name: "ci"})
	m2mToken, _ := env.fake.AddM2MToken("mch_attack", nil, time.Time{})
	m2mJWT, _ := env.fake.SignM2MJWT("mch_attack", []string{"jobs:run"}, time.Minute)
	m2mParts := strings.Split(m2mJWT, ".")
	env.secrets = append(env.secrets, apiKey, m2mToken, m2mJWT)
	m2mHeader := clerktest.Header{"alg": "RS256", "kid": env.fake.Key().Kid, "typ": "JWT", "cat": "cl_B7d4PD333AAA"}
	m2mClaims := clerktest.Claims{"iss": "https://" + env.fake.FAPIHost, "sub": "mch_attack", "jti": "mt_forged", "iat": now, "nbf": now - 5, "exp": now + 60, "scopes": "jobs:run"}
	oauthClaims := clerktest.Claims{"iss": "https://" + env.fake.FAPIHost, "sub": "user_victim", "client_id": "client_1", "jti": "oat_forged", "iat": now, "nbf": now - 5, "exp": now + 60}
	rows := []attackRow{
		// --- algorithms and keys (P5, E1)
		{name: "alg none", o: original{headers: bearer(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "none"}), env.claims(nil)))}, want: 401, reasons: []string{badAlg}},
		{name: "alg none without signature part", o: original{headers: bearer(strings.Join(strings.Split(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "none"}), env.claims(nil)), ".")[:2], "."))}, want: 401, reasons: []string{invalid}},
		{name: "alg None mixed case", o: original{headers: bearer(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "None"}), env.claims(nil)))}, want: 401, reasons: []string{badAlg}},
		{name: "HS256 signed with the RSA public key", o: original{headers: bearer(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "HS256"}), env.claims(nil)))}, want: 401, reasons: []string{badAlg}},
		{name: "HS256 in a cookie", o: original{headers: sessionCookie(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "HS256"}), env.claims(nil)))}, want: 401, reasons: []string{badAlg}},
		{name: "RS512 header", o: original{headers: bearer(clerktest.SignWith(env.fake.Key(), env.header(clerktest.Header{"alg": "RS512"}), env.claims(nil)))}, want: 401, reasons: []string{verifyFailed}},
		{name: "no alg", o: original{headers: bearer(env.signed(clerktest.Header{"alg": nil}, nil))}, want: 401, reasons: []string{badAlg}},
		{name: "embedded jwk/jku/x5u and an attacker kid, signed by the attacker", o: original{headers: bearer(clerktest.SignWith(attacker, attackerHeader, env.claims(nil)))}, want: 401, reasons: []string{kidMismatch}},
		{name: "embedded jwk/jku/x5u with our kid, signed by the attacker", o: original{headers: bearer(clerktest.SignWith(attacker, env.header(embedded), env.claims(nil)))}, want: 401, reasons: []string{badSig}},
		{name: "jku header on a token our key signed verifies with our key", o: original{headers: bearer(env.signed(embedded, nil))}, want: 200, wantUser: "user_victim"},
		{name: "unknown kid", o: original{headers: bearer(clerktest.SignWith(attacker, env.header(clerktest.Header{"kid": randomKid()}), env.claims(nil)))}, want: 401, reasons: []string{kidMismatch}},
		{name: "empty kid", o: original{headers: bearer(env.signed(clerktest.Header{"kid": ""}, nil))}, want: 401, reasons: []string{kidMismatch}},
		{name: "kid of the wrong JSON type", o: original{headers: bearer(env.signed(clerktest.Header{"kid": 7}, nil))}, want: 401, reasons: []string{invalid}},
		{name: "signature of another token", o: original{headers: bearer(validParts[0] + "." + strings.Split(env.signed(nil, clerktest.Claims{"sub": "user_admin"}), ".")[1] + "." + validParts[2])}, want: 401, reasons: []string{badSig}},
		{name: "empty signature", o: original{headers: bearer(validParts[0] + "." + validParts[1] + ".")}, want: 401, reasons: []string{badSig}},

		// --- ambiguous credentials: never the first one's identity
		{name: "two Bearer tokens of different users", o: original{headers: join(bearer(valid), bearer(env.signed(nil, clerktest.Claims{"sub": "user_admin"})))}, want: 401, reasons: []string{invalid}},
		{name: "garbage, then a valid Bearer token", o: original{headers: join(bearer("garbage"), bearer(valid))}, want: 401, reasons: []string{invalid}},
		{name: "two Cookie headers with different sessions", o: original{headers: join(sessionCookie(valid), []string{"Cookie", "__session=" + env.signed(nil, clerktest.Claims{"sub": "user_admin"})})}, want: 401, reasons: []string{invalid}},

		// --- token shape (K1, E1)
		{name: "truncated token", o: original{headers: bearer(valid[:len(valid)-20])}, want: 401, reasons: []string{invalid, badSig}},
		{name: "two parts", o: original{headers: bearer(validParts[0] + "." + validParts[1])}, want: 401, reasons: []string{invalid}},
		{name: "four parts (duplicated payload)", o: original{headers: bearer(validParts[0] + "." + validParts[1] + "." + validParts[1] + "." + validParts[2])}, want: 401, reasons: []string{invalid}},
		{name: "duplicated signature part", o: original{headers: bearer(valid + "." + validParts[2])}, want: 401, reasons: []string{invalid}},
		{name: "only dots", o: original{headers: bearer("..")}, want: 401, reasons: []string{invalid}},
		{name: "oversized token (20 KiB)", o: original{headers: bearer(validParts[0] + "." + strings.Repeat("A", 20<<10) + "." + validParts[2])}, want: 401, reasons: []string{invalid}},
		{name: "oversized cookie token (20 KiB)", o: original{headers: sessionCookie(validParts[0] + "." + strings.Repeat("A", 20<<10) + "." + validParts[2])}, want: 401, reasons: []string{invalid}},
		{name: "standard base64 alphabet", o: original{headers: bearer(strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/")}, want: 401, reasons: []string{invalid}},
		{name: "garbage", o: original{headers: bearer("not-a-jwt")}, want: 401, reasons: []string{invalid}},
		{name: "non-JSON header", o: original{headers: bearer(seg("not json") + "." + validParts[1] + "." + validParts[2])}, want: 401, reasons: []string{invalid}},
		{name: "non-JSON claims, signed", o: original{headers: bearer(env.signedRawClaims("not json"))}, want: 401, reasons: []string{invalid}},
		{name: "claims are a JSON array, signed", o: original{headers: bearer(env.signedRawClaims(`["sub","user_victim"]`))}, want: 401, reasons: []string{invalid}},
		{name: "huge claims over the size bound, signed", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"pad": strings.Repeat("x", 16<<10)}))}, want: 401, reasons: []string{invalid}},
		{name: "deeply nested claims, signed", o: original{headers: bearer(env.signedRawClaims(`{"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`))}, want: 401, reasons: []string{invalid, verifyFailed}},

		// --- numeric edge cases in exp/nbf/iat (signed with the real key)
		// exp 1e308 is a finite number: the SDK accepts it too (its Date
		// is invalid, so never "expired"); only Clerk's key can mint it.
		{name: "exp 1e308 (finite, signed by Clerk's key)", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": 1e308}))}, want: 200, wantUser: "user_victim"},
		{name: "exp -1", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": -1}))}, want: 401, reasons: []string{expiredNoCookie}},
		{name: "exp 0", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": 0}))}, want: 401, reasons: []string{expiredNoCookie}},
		{name: "exp as a string", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": fmt.Sprint(now + 60)}))}, want: 401, reasons: []string{invalid}},
		{name: "exp NaN-ish string", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": "NaN"}))}, want: 401, reasons: []string{invalid}},
		{name: "exp 1e999 (overflows float64)", o: original{headers: bearer(env.signedRawClaims(`{"sub":"user_victim","sid":"sess_1","exp":1e999}`))}, want: 401, reasons: []string{invalid}},
		{name: "exp missing", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": nil}))}, want: 401, reasons: []string{verifyFailed}},
		{name: "exp null", o: original{headers: bearer(env.signedRawClaims(`{"sub":"user_victim","sid":"sess_1","exp":null}`))}, want: 401, reasons: []string{verifyFailed}},
		{name: "exp a float just past", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"exp": float64(now) - 10.5}))}, want: 401, reasons: []string{expiredNoCookie}},
		{name: "nbf 1e308", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"nbf": 1e308}))}, want: 401, reasons: []string{"session-token-nbf"}},
		{name: "nbf as a string", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"nbf": "0"}))}, want: 401, reasons: []string{invalid}},
		{name: "iat far in the future", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"iat": now + 3600}))}, want: 401, reasons: []string{"session-token-iat-in-the-future"}},
		{name: "iat as an object", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"iat": map[string]any{}}))}, want: 401, reasons: []string{invalid}},
		{name: "iat -1 in a cookie (before __client_uat)", o: original{headers: sessionCookie(env.signed(nil, clerktest.Claims{"iat": -1}))}, want: 401, reasons: []string{"session-token-iat-before-client-uat"}},
		{name: "sub of the wrong type", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"sub": 1}))}, want: 401, reasons: []string{invalid}},
		{name: "no sub", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"sub": nil}))}, want: 401, reasons: []string{verifyFailed}},
		{name: "no sid", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"sid": nil}))}, want: 401, reasons: []string{invalid}},
		{name: "malformed fea claim", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"fea": "nocolon", "o": map[string]any{"id": "org_1", "rol": "admin", "per": "read", "fpm": "1"}}))}, want: 401, reasons: []string{"unexpected-error"}},

		// --- duplicate headers and cookie encodings
		{name: "duplicate Authorization: the first (junk) wins", o: original{headers: join(bearer("junk"), bearer(valid))}, want: 401, reasons: []string{invalid}},
		{name: "duplicate Cookie lines: the first (junk) wins", o: original{headers: join([]string{"Cookie", "__session=junk"}, sessionCookie(valid))}, want: 401, reasons: []string{invalid}},
		{name: "duplicate __session in one Cookie: the first (junk) wins", o: original{headers: []string{"Cookie", "__session=junk; __session=" + valid + "; __client_uat=1"}}, want: 401, reasons: []string{invalid}},
		{name: "quoted __session", o: original{headers: []string{"Cookie", `__session="` + valid + `"; __client_uat=1`}}, want: 401, reasons: []string{invalid}},
		{name: "bad percent escape in __session", o: original{headers: []string{"Cookie", "__session=" + valid + "%zz; __client_uat=1"}}, want: 401, reasons: []string{invalid}},
		{name: "percent-encoded NUL in __session", o: original{headers: []string{"Cookie", "__session=" + valid + "%00; __client_uat=1"}}, want: 401, reasons: []string{invalid}},
		{name: "overlong UTF-8 in __session", o: original{headers: []string{"Cookie", "__session=%c0%ae" + valid + "; __client_uat=1"}}, want: 401, reasons: []string{invalid}},
		// The npm cookie package decodes values: a percent-encoded valid
		// token is that token, for Clerk and for us.
		{name: "percent-encoded valid __session decodes like Clerk's", o: original{headers: []string{"Cookie", "__session=" + strings.ReplaceAll(valid, ".", "%2E") + "; __client_uat=1"}}, want: 200, wantUser: "user_victim"},
		{name: "Authorization with lower-case bearer is no token", o: original{headers: []string{"Authorization", "bearer " + valid}}, want: 401, reasons: []string{noSession}},
		{name: "Authorization with two spaces", o: original{headers: []string{"Authorization", "Bearer  " + valid}}, want: 401, reasons: []string{invalid}},
		{name: "Authorization Basic", o: original{headers: []string{"Authorization", "Basic dXNlcl9hZG1pbjpwYXNz"}}, want: 401, reasons: []string{noSession}},

		// --- tokens that are not session tokens (L4)
		{name: "JWT template (cat cl_B7d4PD222AAA)", o: original{headers: bearer(env.signed(clerktest.Header{"cat": "cl_B7d4PD222AAA"}, nil))}, want: 401, reasons: []string{typeMismatch}},
		{name: "JWT template in a cookie", o: original{headers: sessionCookie(env.signed(clerktest.Header{"cat": "cl_B7d4PD222AAA"}, nil))}, want: 401, reasons: []string{typeMismatch}},
		{name: "M2M category", o: original{headers: bearer(env.signed(clerktest.Header{"cat": clerk.CategoryM2M}, nil))}, want: 401, reasons: []string{typeMismatch}},
		{name: "machine subject mch_", o: original{headers: bearer(env.signed(nil, clerktest.Claims{"sub": "mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk"}))}, want: 401, reasons: []string{typeMismatch}},
		{name: "OAuth access token typ at+jwt", o: original{headers: bearer(env.signed(clerktest.Header{"typ": "at+jwt"}, nil))}, want: 401, reasons: []string{typeMismatch}},
		{name: "typ application/at+jwt in a cookie", o: original{headers: sessionCookie(env.signed(clerktest.Header{"typ": "application/at+jwt"}, nil))}, want: 401, reasons: []string{typeMismatch}},
		{name: "typ JWS", o: original{headers: bearer(env.signed(clerktest.Header{"typ": "JWS"}, nil))}, want: 401, reasons: []string{invalid}},
		{name: "opaque M2M token mt_", o: original{headers: bearer("mt_1234567890abcdef")}, want: 401, reasons: []string{invalid, typeMismatch}},
		{name: "opaque OAuth token oat_", o: original{headers: bearer("oat_1234567890abcdef")}, want: 401, reasons: []string{invalid, typeMismatch}},
		{name: "opaque API key ak_", o: original{headers: bearer("ak_1234567890abcdef")}, want: 401, reasons: []string{invalid, typeMismatch}},
		{name: "opaque API key as __session", o: original{headers: sessionCookie("ak_1234567890abcdef")}, want: 401, reasons: []string{invalid, typeMismatch}},

		// --- machine credentials (README "Machine tokens"): /machine/
		// accepts API keys, M2M and OAuth tokens, /mixed/ sessions and API
		// keys. The first row is the control: this key works.
		{name: "valid API key on a machine route", o: original{uri: "/machine/run", headers: bearer(apiKey)}, want: 200, wantUser: "user_keyholder"},
		{name: "garbage ak_ key on a machine route", o: original{uri: "/machine/run", headers: bearer("ak_" + strings.Repeat("x", 40))}, want: 401, reasons: []string{invalid}},
		{name: "ak_ prefix alone on a machine route", o: original{uri: "/machine/run", headers: bearer("ak_")}, want: 401, reasons: []string{invalid}},
		{name: "M2M JWT signed by the attacker with our kid", o: original{uri: "/machine/run", headers: bearer(clerktest.SignWith(attacker, m2mHeader, m2mClaims))}, want: 401, reasons: []string{verifyFailed}},
		{name: "M2M JWT with the signature of another token", o: original{uri: "/machine/run", headers: bearer(m2mParts[0] + "." + m2mParts[1] + "." + validParts[2])}, want: 401, reasons: []string{verifyFailed}},
		{name: "OAuth JWT signed by the attacker with our kid", o: original{uri: "/machine/run", headers: bearer(clerktest.SignWith(attacker, clerktest.Header{"alg": "RS256", "kid": env.fake.Key().Kid, "typ": "at+jwt"}, oauthClaims))}, want: 401, reasons: []string{verifyFailed}},
		{name: "Bearer ak_ and a second Authorization header (a session)", o: original{uri: "/mixed/run", headers: join(bearer(apiKey), bearer(valid))}, want: 401, reasons: []string{invalid}},
		{name: "a session and a second Authorization header (Bearer ak_)", o: original{uri: "/mixed/run", headers: join(bearer(valid), bearer(apiKey))}, want: 401, reasons: []string{invalid}},
		{name: "Bearer ak_ and a second Authorization header (Bearer mt_) on a machine route", o: original{uri: "/machine/run", headers: join(bearer(apiKey), bearer(m2mToken))}, want: 401, reasons: []string{invalid}},
		{name: "API key in the __session cookie on a machine route", o: original{uri: "/machine/run", headers: sessionCookie(apiKey)}, want: 401, reasons: []string{typeMismatch}},
		{name: "M2M JWT in the __session cookie on a machine route", o: original{uri: "/machine/run", headers: sessionCookie(m2mJWT)}, want: 401, reasons: []string{typeMismatch}},
		{name: "API key in the __session cookie on a session and API-key route", o: original{uri: "/mixed/run", headers: sessionCookie(apiKey)}, want: 401, reasons: []string{invalid}},
		{name: "API key with lower-case bearer on a machine route", o: original{uri: "/machine/run", headers: []string{"Authorization", "bearer " + apiKey}}, want: 401, reasons: []string{typeMismatch}},
		{name: "session token on a machine route", o: original{uri: "/machine/run", headers: bearer(valid)}, want: 401, reasons: []string{typeMismatch}},

		// --- tokens and overrides in the query string
		{name: "__session in the query", o: original{uri: "/app?__session=" + valid}, want: 401, reasons: []string{noSession}},
		{name: "token in the query", o: original{uri: "/app?token=" + valid + "&access_token=" + valid + "&authorization=Bearer%20" + valid}, want: 401, reasons: []string{noSession}},
		// A session token is no handshake token: it carries no directives, so
		// the handshake completes signed out (307 back to the URL without
		// the parameter, no cookie). NGINX completes handshakes only on the
		// callback route and ignores it here.
		{name: "__clerk_handshake with a session token in the query", o: original{uri: "/app?x=1&__clerk_handshake=" + valid}, only: []string{"forward-auth", "ext-authz"}, want: 307, reasons: []string{"session-token-missing"}, wantLocation: "https://app.example.test/app?x=1"},
		{name: "__clerk_handshake with a session token in the query (NGINX)", o: original{uri: "/app?x=1&__clerk_handshake=" + valid}, only: []string{"auth-request", "auth-request (X-Original-URI)"}, want: 401, reasons: []string{noSession}},
		{name: "_method=GET on a POST to a GET-only public path", o: original{method: "POST", uri: "/public/page?_method=GET"}, want: 401, reasons: []string{noSession}},
		{name: "X-HTTP-Method-Override: GET on a POST to a GET-only public path", o: original{method: "POST", uri: "/public/page", headers: []string{"X-HTTP-Method-Override", "GET", "X-Method-Override", "GET", "X-HTTP-Method", "GET"}}, want: 401, reasons: []string{noSession}},

		// --- control headers a client might hope we honour (O3, E3, L5)
		{name: "health-check User-Agent", o: original{headers: []string{"User-Agent", "kube-probe/1.30", "X-Forwarded-User", "user_admin"}}, want: 401, reasons: []string{noSession}},
		{name: "x-middleware-subrequest and envoy internal headers", o: original{headers: []string{"X-Middleware-Subrequest", "middleware:middleware:middleware", "X-Envoy-Internal", "true", "X-Clerk-Auth-Status", "signed-in", "X-Clerk-Auth-Reason", "ok", "X-Auth-Request-User", "user_admin"}}, want: 401, reasons: []string{noSession}},
		{name: "client-sent identity headers without a session", o: original{headers: []string{"X-Auth-User-Id", "user_admin", "X-Auth-Org-Role", "org:admin", "X_Auth_User_Id", "user_admin"}}, want: 401, reasons: []string{noSession}},

		// --- header-family mixing (O1, A1, T1)
		{name: "X-Forwarded-Uri sent to /auth-request is ignored", only: []string{"auth-request", "auth-request (X-Original-URI)"}, o: original{uri: "/admin", headers: []string{"X-Forwarded-Uri", "/public/page", "X-Forwarded-Method", "GET"}}, want: 401, reasons: []string{noSession}},
		{name: "X-Original-URL sent to /forward-auth is ignored", only: []string{"forward-auth"}, o: original{uri: "/admin", headers: []string{"X-Original-URL", "https://app.example.test/public/page", "X-Original-URI", "/public/page"}}, want: 401, reasons: []string{noSession}},
		{name: "X-Original-URL and X-Forwarded-Uri sent to /ext-authz are ignored", only: []string{"ext-authz"}, o: original{uri: "/admin", headers: []string{"X-Original-URL", "https://app.example.test/public/page", "X-Forwarded-Uri", "/public/page", "X-Original-URI", "/public/page"}}, want: 401, reasons: []string{noSession}},
		{name: "another family only: X-Original-* to /forward-auth", only: []string{"forward-auth"}, noOwn: true, o: original{headers: []string{"X-Original-URL", "https://app.example.test/public/page", "X-Original-Method", "GET", "Authorization", "Bearer " + valid}}, want: 400},
		{name: "another family only: X-Forwarded-* to /auth-request", only: []string{"auth-request"}, noOwn: true, o: original{headers: []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.test", "X-Forwarded-Uri", "/public/page", "Authorization", "Bearer " + valid}}, want: 400},
		{name: "own family missing entirely", only: []string{"forward-auth", "auth-request"}, noOwn: true, o: original{headers: bearer(valid)}, want: 400},

		// --- path confusion (O4, O5, P1, L2, X2): never the public rule
		{name: "encoded dot segment %2e%2e", o: original{uri: "/public/%2e%2e/admin"}, want: 400},
		{name: "upper-case %2E%2E", o: original{uri: "/public/%2E%2E/admin"}, want: 400},
		{name: "encoded slash %2F", o: original{uri: "/public/..%2Fadmin"}, want: 400},
		{name: "encoded backslash %5C", o: original{uri: "/public/..%5Cadmin"}, want: 400},
		{name: "literal dot segment", o: original{uri: "/public/../admin"}, want: 400},
		{name: "semicolon path parameter", o: original{uri: "/public/..;/admin"}, want: 400},
		{name: "empty segment //", o: original{uri: "/public//../admin"}, want: 400},
		{name: "leading //", o: original{uri: "//public/page"}, want: 400},
		{name: "backslash", o: original{uri: "/public/..\\admin"}, want: 400},
		{name: "overlong UTF-8 slash %c0%af", o: original{uri: "/public/..%c0%afadmin"}, want: 400},
		{name: "overlong UTF-8 dots %c0%ae", o: original{uri: "/public/%c0%ae%c0%ae/admin"}, want: 400},
		{name: "double-encoded dots %252e", o: original{uri: "/public/%252e%252e/admin"}, want: 400},
		{name: "fragment #", o: original{uri: "/admin#/public/page"}, want: 400},
		{name: "encoded fragment %23", o: original{uri: "/admin%23/public/page"}, want: 400},
		{name: "bad percent escape", o: original{uri: "/public/%zz/../admin"}, want: 400},
		{name: "NUL byte %00", o: original{uri: "/public/page%00/../admin"}, want: 400},
		{name: "host of only a dot", o: original{host: "."}, want: 400},
		{name: "host ending in two dots", o: original{host: "app.example.test.."}, want: 400},
		{name: "public in the query only", o: original{uri: "/admin?next=/public/page"}, want: 401, reasons: []string{noSession}},
		{name: "case variant of the public prefix", o: original{uri: "/PUBLIC/page"}, want: 401, reasons: []string{noSession}},
		{name: "absolute-form URI", o: original{uri: "https://evil.example/public/page"}, only: []string{"forward-auth", "auth-request (X-Original-URI)"}, want: 400},

		// --- original method
		{name: "TRACE", o: original{method: "TRACE", headers: bearer(valid)}, want: 400},
		{name: "CONNECT", o: original{method: "CONNECT", headers: bearer(valid)}, only: []string{"forward-auth", "auth-request", "auth-request (X-Original-URI)"}, want: 400},
	}
	return rows
}

// TestBadInputCorpus runs every row against every endpoint.
func TestBadInputCorpus(t *testing.T) {
	var jkuHits atomic.Int64
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkuHits.Add(1)
		http.NotFound(w, r)
	}))
	defer jku.Close()
	env := newAttackEnv(t, 5*time.Second)
	for _, row := range env.corpus(t, jku.URL) {
		for _, ep := range proxyEndpoints {
			if len(row.only) > 0 && !slices.Contains(row.only, ep.name) {
				continue
			}
			if row.noOwn && !ep.hasOwn {
				continue
			}
			t.Run(row.name+"/"+ep.name, func(t *testing.T) {
				rep := env.send(t, ep, row.o, !row.noOwn)
				if rep.status != row.want {
					t.Fatalf("status %d (reason %q, body %s), want %d", rep.status, rep.reason, rep.body, row.want)
				}
				if rep.status == http.StatusOK {
					checkIdentityHeaders(t, rep, row.wantUser)
					return
				}
				if rep.header.Get(HeaderUserID) != "" {
					t.Fatalf("identity header on a %d", rep.status)
				}
				if row.want != http.StatusBadRequest && !slices.Contains(row.reasons, rep.reason) {
					t.Fatalf("reason %q, want one of %q", rep.reason, row.reasons)
				}
				if loc := rep.header.Get("Location"); loc != row.wantLocation {
					t.Fatalf("Location %q, want %q", loc, row.wantLocation)
				}
				for _, c := range rep.header.Values("Set-Cookie") {
					if strings.HasPrefix(c, "__session") && !strings.HasPrefix(c, "__session=;") {
						t.Fatalf("sets a session cookie: %.40s…", c)
					}
				}
			})
		}
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("the jku/x5u server named in token headers was contacted %d times", n)
	}
	if strings.Contains(env.logs.String(), env.signed(nil, nil)[:40]) {
		t.Error("a token reached the logs")
	}
	for _, secret := range env.secrets {
		if strings.Contains(env.logs.String(), secret[:30]) {
			t.Errorf("a machine credential reached the logs: %.6s…", secret)
		}
	}
}

// checkIdentityHeaders: every allow carries all twelve identity headers,
// so the proxy overwrites any copy the client sent (O6, C1).
func checkIdentityHeaders(t *testing.T, rep reply, user string) {
	t.Helper()
	for _, h := range IdentityHeaders {
		if _, ok := rep.header[h]; !ok {
			t.Errorf("allow without %s", h)
		}
	}
	if got := rep.header.Get(HeaderUserID); got != user {
		t.Errorf("%s = %q, want %q", HeaderUserID, got, user)
	}
}

// TestClientIdentityHeadersAreOverwritten: a client's X-Auth-* copies never
// survive an allow: signed in (ours replace them) or anonymous on a public
// route (ours are present and empty); Envoy is also told to remove the
// empty ones, since it keeps a client header we do not send.
func TestClientIdentityHeadersAreOverwritten(t *testing.T) {
	env := newAttackEnv(t, 5*time.Second)
	spoof := []string{
		"X-Auth-User-Id", "user_admin", "X-Auth-Session-Id", "sess_admin", "X-Auth-Org-Id", "org_admin",
		"X-Auth-Org-Slug", "admin", "X-Auth-Org-Role", "org:admin", "X-Auth-Org-Permissions", "org:all:all", "X-Auth-Actor-Id", "user_root",
		"X-Auth-Token-Type", "admin", "X-Auth-Machine-Id", "mch_admin", "X-Auth-Token-Id", "ak_admin", "X-Auth-Scopes", "admin:all",
		"X-Auth-Client-Id", "client_admin",
	}
	apiKey, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_keyholder"})
	tests := []struct {
		name string
		o    original
		user string
	}{
		{"signed in", original{headers: join(spoof, bearer(env.signed(nil, nil)))}, "user_victim"},
		{"anonymous on a public route", original{uri: "/public/page", headers: spoof}, ""},
		{"user's API key on a machine route", original{uri: "/machine/run", headers: join(spoof, bearer(apiKey))}, "user_keyholder"},
	}
	for _, tt := range tests {
		for _, ep := range proxyEndpoints {
			t.Run(tt.name+"/"+ep.name, func(t *testing.T) {
				rep := env.send(t, ep, tt.o, true)
				if rep.status != http.StatusOK {
					t.Fatalf("status %d %s", rep.status, rep.body)
				}
				checkIdentityHeaders(t, rep, tt.user)
				for _, h := range IdentityHeaders[1:] {
					if v := rep.header.Get(h); v != "" && tt.user == "" || strings.Contains(v, "admin") || strings.Contains(v, "root") {
						t.Errorf("%s = %q", h, v)
					}
				}
				if ep.name == "ext-authz" {
					remove := rep.header.Get("X-Envoy-Auth-Headers-To-Remove")
					for _, h := range []string{"x-auth-org-id", "x-auth-org-role", "x-auth-actor-id", "x-auth-machine-id", "x-auth-scopes", "x-auth-client-id"} {
						if !strings.Contains(remove, h) {
							t.Errorf("x-envoy-auth-headers-to-remove %q lacks %s", remove, h)
						}
					}
				}
			})
		}
	}
}

// TestRandomKidFlood: 1000 tokens naming random kids cost the Backend API
// at most the throttled refetches: 1 + elapsed/MinRefetchInterval.
func TestRandomKidFlood(t *testing.T) {
	const interval = 50 * time.Millisecond
	env := newAttackEnv(t, interval)
	env.fake.ResetCalls()
	payload := seg(env.claims(nil))
	start := time.Now()
	var wg sync.WaitGroup
	var unexpected atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 125; i++ {
				// Paced so the flood spans many refetch intervals: a
				// fetch per unknown kid would show as hundreds of calls.
				time.Sleep(4 * time.Millisecond)
				tok := seg(env.header(clerktest.Header{"kid": randomKid()})) + "." + payload + "." + seg("forged-signature")
				r := httptest.NewRequest("GET", "/ext-authz/app", nil)
				r.Host = "app.example.test"
				r.Header.Set("X-Forwarded-Proto", "https")
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				env.handler.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized || w.Header().Get("X-Clerk-Auth-Reason") != "jwk-kid-mismatch" {
					unexpected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := unexpected.Load(); n > 0 {
		t.Errorf("%d of 1000 random-kid tokens were not 401 jwk-kid-mismatch", n)
	}
	calls := env.fake.Calls("GET /v1/jwks")
	limit := 1 + int(elapsed/interval)
	t.Logf("1000 random-kid tokens in %v: %d JWKS fetches (bound %d)", elapsed, calls, limit)
	if calls > limit {
		t.Errorf("%d JWKS fetches in %v, want at most %d", calls, elapsed, limit)
	}
	if calls == 0 {
		t.Error("no refetch at all over many intervals: the flood did not reach the key source")
	}
}

// realServer serves the router the way main.serve does (same limits), on
// loopback, with readHeaderTimeout for the slow-client row.
func realServer(t *testing.T, h http.Handler, readHeaderTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// rawExchange writes raw bytes on a fresh connection and reads what comes
// back until the server closes or the deadline passes.
func rawExchange(t *testing.T, addr, raw string, wait time.Duration) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, raw); err != nil {
		return "", true
	}
	b, err := io.ReadAll(c)
	closed := err == nil || !isTimeout(err)
	return string(b), closed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func statusOf(resp string) int {
	var minor, code int
	_, _ = fmt.Sscanf(resp, "HTTP/1.%d %d", &minor, &code)
	return code
}

// TestTransportLevelAttacks: what net/http itself must refuse before any
// handler runs, on a real server configured like main's.
func TestTransportLevelAttacks(t *testing.T) {
	env := newAttackEnv(t, 5*time.Second)
	addr := realServer(t, env.handler, 300*time.Millisecond)
	valid := env.signed(nil, nil)
	fa := "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.example.test\r\nX-Forwarded-Uri: /app\r\nAuthorization: Bearer " + valid + "\r\n"

	t.Run("a valid request over the wire is allowed (control)", func(t *testing.T) {
		resp, _ := rawExchange(t, addr, "GET /forward-auth HTTP/1.1\r\nHost: auth\r\n"+fa+"Connection: close\r\n\r\n", 5*time.Second)
		if statusOf(resp) != 200 {
			t.Fatalf("got %q", firstLine(resp))
		}
	})
	t.Run("oversized headers (>64 KiB) get 431", func(t *testing.T) {
		resp, _ := rawExchange(t, addr, "GET /forward-auth HTTP/1.1\r\nHost: auth\r\n"+fa+"Cookie: pad="+strings.Repeat("a", 80<<10)+"\r\n\r\n", 5*time.Second)
		if statusOf(resp) != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("got %q", firstLine(resp))
		}
	})
	t.Run("a slow client is cut off at ReadHeaderTimeout", func(t *testing.T) {
		start := time.Now()
		resp, closed := rawExchange(t, addr, "GET /forward-auth HTTP/1.1\r\nHost: auth\r\nX-Forwarded-Method: GET\r\n", 5*time.Second)
		if !closed || statusOf(resp) == 200 {
			t.Fatalf("connection still open after %v (got %q)", time.Since(start), firstLine(resp))
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("closed only after %v", d)
		}
	})
	// want: the outer request's status. Every row: the bytes after the
	// chunked terminator are never answered as a request of their own.
	smuggling := []struct {
		name, proto, headers string
		want                 []int
	}{
		{"Content-Length with Transfer-Encoding: chunked (CL.TE)", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", []int{400}},
		{"Transfer-Encoding: chunked before Content-Length (TE.CL)", "HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", []int{400}},
		{"Transfer-Encoding: chunked alone", "HTTP/1.1", "Transfer-Encoding: chunked\r\n", []int{400}},
		{"Content-Length with Transfer-Encoding: chunked, identity", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n", []int{400, 501}},
		{"two different Content-Lengths", "HTTP/1.1", "Content-Length: 0\r\nContent-Length: 44\r\n", []int{400}},
		{"Content-Length list", "HTTP/1.1", "Content-Length: 0, 44\r\n", []int{400}},
		{"obfuscated Transfer-Encoding", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n", []int{400, 501}},
		{"Transfer-Encoding with a space before the colon", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding : chunked\r\n", []int{400}},
		{"two Transfer-Encoding lines", "HTTP/1.1", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", []int{400, 501}},
		// HTTP/1.0 has no Transfer-Encoding: net/http drops the header and
		// frames by Content-Length (so the outer request is a plain allow),
		// and closes the connection, keep-alive asked or not.
		{"Transfer-Encoding on HTTP/1.0 with Content-Length", "HTTP/1.0", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", []int{200}},
		{"Transfer-Encoding on HTTP/1.0 keep-alive", "HTTP/1.0", "Connection: keep-alive\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n", []int{200}},
	}
	for _, s := range smuggling {
		t.Run("smuggling: "+s.name, func(t *testing.T) {
			smuggled := "GET /forward-auth HTTP/1.1\r\nHost: auth\r\n" + fa + "\r\n"
			// The outer request is itself a valid allow, so only the framing
			// can make it a 400.
			raw := "POST /forward-auth " + s.proto + "\r\nHost: auth\r\n" + fa + s.headers + "\r\n0\r\n\r\n" + smuggled
			resp, closed := rawExchange(t, addr, raw, 3*time.Second)
			if code := statusOf(resp); !slices.Contains(s.want, code) {
				t.Fatalf("got %q, want %v", firstLine(resp), s.want)
			}
			if strings.Count(resp, "HTTP/1.") != 1 {
				t.Fatalf("the smuggled request was answered too: %q", resp)
			}
			if !closed {
				t.Fatal("the connection stayed open after an ambiguous framing")
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestOpenRedirectVectors: the callback route (the only place a
// client-chosen redirect target is followed) refuses every open-redirect
// shape from docs/known-attacks.md O8, O9, K3, K5, A4, X3 with 400 and never
// answers a Location off the app's origin.
func TestOpenRedirectVectors(t *testing.T) {
	env := newAttackEnv(t, 5*time.Second)
	vectors := []string{
		"//evil.com", "//evil.com/%2F..", "/\\evil.com", "\\\\evil.com", "/%09/evil.com", "/%5cevil.com",
		"/%0d%0aSet-Cookie:%20x=y", "/%00evil", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
		"https://app.example.test@evil.com/", "https://evil.com#@app.example.test", "https://evil.com\\@app.example.test",
		"https:evil.com", "https:/evil.com", "https:///evil.com", "http://evil.com", "https://evil-example.test/",
		"https://app.example.test.evil.com/", "https://example.test.evil.com/", "https://app.example.test%2eevil.com/",
		"https://app.example.test:8443/", "http://app.example.test/", "https://evil.com/?x=https://app.example.test",
		"%2F%2Fevil.com", "ftp://app.example.test/", "https://app.example.test%40evil.com/", "https://evil。com/",
	}
	for _, v := range vectors {
		t.Run(v, func(t *testing.T) {
			raw := "GET /_auth/callback?redirect_url=" + url.QueryEscape(v) + " HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-Proto: https\r\n\r\n"
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			r.RemoteAddr = "10.0.0.2:41000"
			w := httptest.NewRecorder()
			env.handler.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d Location %q, want 400", w.Code, w.Header().Get("Location"))
			}
			if loc := w.Header().Get("Location"); loc != "" {
				t.Fatalf("Location %q on a refusal", loc)
			}
		})
	}
	// Paths are resolved against the origin, so these are followed, and
	// the absolute Location keeps the browser on the app's origin.
	onOrigin := []struct{ target, location string }{
		{"/dashboard?x=1", "https://app.example.test/dashboard?x=1"},
		{"/%2F%2Fevil.com", "https://app.example.test/%2F%2Fevil.com"},
		{"https://APP.example.test/x", "https://APP.example.test/x"},
	}
	for _, tt := range onOrigin {
		t.Run("stays on origin: "+tt.target, func(t *testing.T) {
			raw := "GET /_auth/callback?redirect_url=" + url.QueryEscape(tt.target) + " HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-Proto: https\r\n\r\n"
			r, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			w := httptest.NewRecorder()
			env.handler.ServeHTTP(w, r)
			if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != tt.location {
				t.Fatalf("status %d Location %q, want 307 %q", w.Code, w.Header().Get("Location"), tt.location)
			}
		})
	}
}
