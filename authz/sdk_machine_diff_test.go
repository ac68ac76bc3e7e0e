package authz

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestMachineDecisionsMatchClerkSDK is the differential test for machine
// credentials: every kind of credential (API keys of a user, an
// organization and a machine; M2M and OAuth tokens, opaque and JWT), valid,
// revoked, expired and never issued, and garbage besides, on routes
// accepting each acceptsToken value, goes through our engine and through
// @clerk/backend's authenticateRequest against the same fake Backend API.
// Outcome, reason and the machine identity must agree, except for the
// differences listed in machineKnownDifferences.
//
// It runs the SDK with CLERK_JWT_KEY and without it (machine JWTs then
// verify with the JWKS fetched with the secret key), with and without a
// machine secret key for the M2M verify route (the fake accepts either
// there, so this shows only that both sides work so configured), on a
// production and a development instance; and again while the Backend API
// answers 500 and 429 to every verify call (machine JWTs, verified
// locally, must not notice).
func TestMachineDecisionsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	configs := []struct {
		name             string
		production       bool
		jwtKey           bool // the SDK is given CLERK_JWT_KEY
		machineSecretKey bool // both sides verify M2M tokens with the machine secret key
	}{
		{"production/jwt-key", true, true, false},
		{"production/jwks/machine-secret-key", true, false, true},
		{"development/jwks", false, false, false},
	}
	phases := []struct {
		name   string
		status int // what the fake answers every verify call; 0: itself
	}{
		{"clerk-up", 0},
		{"clerk-500", http.StatusInternalServerError},
		{"clerk-429", http.StatusTooManyRequests},
	}
	total := 0
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			env := newSDKMachineEnv(t, cfg.production, cfg.machineSecretKey)
			opts := map[string]any{
				"publishableKey": env.fake.PublishableKey,
				"secretKey":      env.fake.SecretKey,
				"apiUrl":         env.fake.URL, // no /v1: the SDK adds it to versioned routes only
			}
			if cfg.jwtKey {
				opts["jwtKey"] = env.fake.Key().PublicKeyPEM()
			}
			if cfg.machineSecretKey {
				opts["machineSecretKey"] = env.fake.MachineSecretKey
			}
			creds := env.credentials(t)
			seen := map[string]bool{}
			known := map[string]int{}
			for _, phase := range phases {
				cases := env.cases(t, creds, phase.status != 0)
				sdk := make([]sdkCase, len(cases))
				for i, c := range cases {
					sdk[i] = c.sdkCase
				}
				env.fake.FailWith(phase.status, 0)
				results := runSDKWith(t, nodePath, opts, sdk)
				// A fresh engine per phase: its machine token cache must not
				// answer for Clerk while Clerk is down.
				engine := env.engine(t)
				mismatches := 0
				for i, c := range cases {
					r := c.request()
					r.Rule = c.rule
					d := engine.Decide(context.Background(), r)
					s := results[i]
					diff, why := compareMachineWithSDK(c, d, s)
					if diff != "" {
						mismatches++
						if mismatches <= 15 {
							t.Errorf("%s/%s: %s\n  ours: %v %q %q identity=%+v\n  sdk:  %s %q %q tokenType=%q machine=%+v user=%q",
								phase.name, c.name, diff, d.Outcome, d.Reason, d.Message, d.Identity,
								s.Status, s.Reason, s.Message, s.TokenType, s.Machine, s.UserID)
						}
						continue
					}
					if why != "" {
						known[why]++
					}
					seen[s.Status+"/"+s.Reason+"/"+s.TokenType] = true
				}
				env.fake.FailWith(0, 0)
				if mismatches > 0 {
					t.Fatalf("%s: %d of %d requests decided differently from @clerk/backend", phase.name, mismatches, len(cases))
				}
				total += len(cases)
				t.Logf("%s: %d requests decided as @clerk/backend decides them", phase.name, len(cases))
			}
			// The matrix must reach every branch of the SDK's machine
			// paths, or a broken case builder would pass unnoticed.
			for _, want := range []string{
				"signed-in//api_key", "signed-in//m2m_token", "signed-in//oauth_token", "signed-in//session_token",
				"signed-out/token-invalid/api_key", "signed-out/token-invalid/m2m_token", "signed-out/token-invalid/oauth_token",
				"signed-out/token-verification-failed/m2m_token", "signed-out/token-verification-failed/oauth_token",
				"signed-out/token-type-mismatch/api_key", "signed-out/token-type-mismatch/m2m_token",
				"signed-out/token-type-mismatch/oauth_token", "signed-out/token-type-mismatch/session_token",
				"signed-out/token-type-mismatch/", // signedOutInvalidToken: an array that does not list the type
				"signed-out/No token in header/api_key", "signed-out/No token in header/oauth_token",
				"signed-out/token-invalid/session_token", "signed-out/session-token-and-uat-missing/session_token",
				"signed-out/unexpected-error/api_key", "signed-out/unexpected-error/m2m_token", "signed-out/unexpected-error/oauth_token",
			} {
				if !seen[want] {
					t.Errorf("no case where the SDK answers %s (status/reason/tokenType)", want)
				}
			}
			// Each known difference must still be met, or it is stale.
			for _, k := range machineKnownDifferences {
				if known[k.name] == 0 {
					t.Errorf("known difference %q met by no case", k.name)
				}
			}
			t.Logf("known differences met: %v", known)
		})
	}
	t.Logf("%d requests in all", total)
}

// machineKnownDifferences are where our engine intentionally answers
// otherwise than @clerk/backend. compareMachineWithSDK accepts exactly
// these, and the test fails when one is no longer met.
var machineKnownDifferences = []struct{ name, why string }{
	{knownOutage, "When the Backend API answers 5xx or 429 (or not at all), the SDK signs the request out with " +
		"unexpected-error; we answer 503 Unavailable with the same reason, as for a key outage, so that a client " +
		"retries instead of being told its credential is bad, and a public route does not pass anonymously."},
	{knownMachineAPIKey, "An API key owned by a machine: the SDK's api_key auth object has no machineId field, only " +
		"subject mch_…; we name the machine in Identity.MachineID (X-Auth-Machine-Id), from the same subject."},
}

const (
	knownOutage        = "outage-is-503"
	knownMachineAPIKey = "machine-api-key-names-machine"
)

// compareMachineWithSDK returns "" when our decision is the SDK's, and the
// known difference that made it so, if any.
func compareMachineWithSDK(c machineCase, d Decision, s sdkResult) (diff, known string) {
	if s.Status == "signed-in" && s.Machine != nil {
		if d.Outcome != Allow {
			return "SDK allows", ""
		}
		m := s.Machine
		want := Identity{
			TokenType: clerk.TokenType(m.TokenType), UserID: m.UserID, OrgID: m.OrgID, MachineID: m.MachineID,
			TokenID: m.ID, Scopes: m.Scopes, ClientID: m.ClientID,
		}
		if m.TokenType != s.TokenType {
			return "SDK: the state's and the auth object's token types differ", ""
		}
		if want.TokenType == clerk.TokenTypeAPIKey && m.MachineID == "" && strings.HasPrefix(m.Subject, "mch_") {
			want.MachineID, known = m.Subject, knownMachineAPIKey
		}
		got := d.Identity
		if got.TokenType != want.TokenType || got.UserID != want.UserID || got.OrgID != want.OrgID ||
			got.MachineID != want.MachineID || got.TokenID != want.TokenID || got.ClientID != want.ClientID ||
			!sameStrings(got.Scopes, want.Scopes) || got.SessionID != "" || got.OrgRole != "" || len(got.OrgPermissions) > 0 {
			return "identity differs", ""
		}
		return "", known
	}
	if c.outage && s.Status == "signed-out" && s.Reason == string(clerk.ReasonUnexpectedError) &&
		d.Outcome == Unavailable && d.Reason == clerk.ReasonUnexpectedError {
		return "", knownOutage
	}
	if s.Status == "signed-in" && d.Outcome == Allow && (d.Identity.TokenType != clerk.TokenTypeSession || s.TokenType != string(clerk.TokenTypeSession)) {
		return "session token type differs", ""
	}
	return compareWithSDK(d, s), ""
}

// sameStrings compares scope lists, nil and empty alike.
func sameStrings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}

// machineCase is one request: the SDK's case and our rule for the same
// acceptsToken.
type machineCase struct {
	sdkCase
	rule   *Rule
	outage bool // the Backend API answers every verify call with an error
}

// sdkMachineEnv is a fake Clerk instance for both sides.
type sdkMachineEnv struct {
	fake             *clerktest.Server
	pk               clerk.PublishableKey
	api              *clerk.API
	machineSecretKey string
	production       bool
}

func newSDKMachineEnv(t *testing.T, production, machineSecretKey bool) *sdkMachineEnv {
	t.Helper()
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: production})
	fake.SetRateLimit(1 << 20)
	env := &sdkMachineEnv{fake: fake, pk: pk, api: api, production: production}
	if machineSecretKey {
		env.machineSecretKey = fake.MachineSecretKey
	}
	return env
}

// engine is our side: machine tokens verified as the service wires them
// (MachineLookup over MachineVerifier), sessions refreshed by the Backend
// API as the SDK's apiClient does.
func (e *sdkMachineEnv) engine(t *testing.T) *Engine {
	t.Helper()
	v := clerk.NewVerifier(clerk.NewRemoteKeys(e.api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	lookup, err := NewMachineLookup(clerk.NewMachineVerifier(e.api, e.machineSecretKey, v), MachineLookupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return NewEngine(Config{PublishableKey: e.pk}, v, Options{Machines: lookup, Refresher: e.api})
}

// credential is what a request carries in Authorization: Bearer.
type credential struct{ name, token string }

// credentials issues every kind of machine credential in every state, and
// the garbage a machine route must refuse.
func (e *sdkMachineEnv) credentials(t *testing.T) []credential {
	t.Helper()
	f := e.fake
	now := time.Now()
	past := now.Add(-time.Minute)
	other, err := clerktest.NewSigningKey("ins_unknown")
	if err != nil {
		t.Fatal(err)
	}
	sameKid, err := clerktest.NewSigningKey(f.Key().Kid)
	if err != nil {
		t.Fatal(err)
	}
	var creds []credential
	add := func(name, token string) { creds = append(creds, credential{name, token}) }

	for _, owner := range []struct{ name, subject string }{{"user", "user_ak"}, {"org", "org_ak"}, {"machine", "mch_ak"}} {
		k := clerktest.APIKey{Subject: owner.subject, Name: "ci-" + owner.name, Scopes: []string{"reports:read", "reports:write"}}
		if owner.name == "org" {
			k.Scopes = nil // an API key without scopes
		}
		valid, _ := f.AddAPIKey(k)
		add("api-key-"+owner.name+"/valid", valid)
		revoked, id := f.AddAPIKey(k)
		f.RevokeAPIKey(id)
		add("api-key-"+owner.name+"/revoked", revoked)
		k.Expiration = past
		expired, _ := f.AddAPIKey(k)
		add("api-key-"+owner.name+"/expired", expired)
	}
	add("api-key/unknown", "ak_"+clerktest.NewID("never"))

	m2m, _ := f.AddM2MToken("mch_opaque", []string{"jobs:run"}, now.Add(time.Hour))
	add("m2m/valid", m2m)
	m2mNoScopes, _ := f.AddM2MToken("mch_opaque", nil, time.Time{})
	add("m2m/valid-no-scopes", m2mNoScopes)
	m2mRevoked, id := f.AddM2MToken("mch_opaque", []string{"jobs:run"}, time.Time{})
	f.RevokeM2MToken(id)
	add("m2m/revoked", m2mRevoked)
	m2mExpired, _ := f.AddM2MToken("mch_opaque", []string{"jobs:run"}, past)
	add("m2m/expired", m2mExpired)
	add("m2m/unknown", "mt_"+clerktest.NewID("never"))

	m2mJWT, _ := f.SignM2MJWT("mch_jwt", []string{"a", "b"}, time.Hour)
	add("m2m-jwt/valid", m2mJWT)
	m2mJWTNoScopes, _ := f.SignM2MJWT("mch_jwt", nil, time.Hour)
	add("m2m-jwt/valid-no-scopes", m2mJWTNoScopes)
	// A JWT is verified locally by both sides: revoking its id at the
	// Backend API changes nothing (Clerk's documented trade-off for JWTs).
	m2mJWTRevoked, id := f.SignM2MJWT("mch_jwt", []string{"a"}, time.Hour)
	f.RevokeM2MToken(id)
	add("m2m-jwt/revoked", m2mJWTRevoked)
	m2mJWTExpired, _ := f.SignM2MJWT("mch_jwt", []string{"a"}, -time.Hour)
	add("m2m-jwt/expired", m2mJWTExpired)
	// Never issued: signed by a key the instance does not publish.
	add("m2m-jwt/unknown", clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT", "cat": clerk.CategoryM2M},
		clerktest.Claims{"iss": "https://" + f.FAPIHost, "sub": "mch_jwt", "jti": clerktest.NewID("mt"), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))

	oauth, _ := f.AddOAuthToken("user_oauth", "client_opaque", []string{"profile", "email"}, now.Add(time.Hour))
	add("oauth/valid", oauth)
	oauthRevoked, id := f.AddOAuthToken("user_oauth", "client_opaque", []string{"profile"}, time.Time{})
	f.RevokeOAuthToken(id)
	add("oauth/revoked", oauthRevoked)
	oauthExpired, _ := f.AddOAuthToken("user_oauth", "client_opaque", []string{"profile"}, past)
	add("oauth/expired", oauthExpired)
	add("oauth/unknown", "oat_"+clerktest.NewID("never"))

	oauthJWT, _ := f.SignOAuthJWT("user_jwt", "client_jwt", []string{"email"}, time.Hour)
	add("oauth-jwt/valid", oauthJWT)
	oauthJWTRevoked, id := f.SignOAuthJWT("user_jwt", "client_jwt", []string{"email"}, time.Hour)
	f.RevokeOAuthToken(id)
	add("oauth-jwt/revoked", oauthJWTRevoked)
	oauthJWTExpired, _ := f.SignOAuthJWT("user_jwt", "client_jwt", []string{"email"}, -time.Hour)
	add("oauth-jwt/expired", oauthJWTExpired)
	add("oauth-jwt/unknown", clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "at+jwt"},
		clerktest.Claims{"iss": "https://" + f.FAPIHost, "sub": "user_jwt", "client_id": "client_jwt", "jti": clerktest.NewID("oat"), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))

	session := f.SessionClaims("user_sdk")
	session["iat"] = now.Add(-10 * time.Second).Unix()
	m2mClaims := clerktest.Claims{"iss": "https://" + f.FAPIHost, "sub": "mch_jwt", "jti": clerktest.NewID("mt"), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	add("garbage/word", "garbage")
	add("garbage/ak-prefix-only", "ak_")
	add("garbage/mt-jwt-shaped", "mt_x.y.z")
	add("garbage/session", f.Sign(session))
	expiredSession := f.SessionClaims("user_sdk")
	expiredSession["iat"], expiredSession["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
	add("garbage/expired-session", f.Sign(expiredSession))
	add("garbage/template", clerktest.SignWith(f.Key(), clerktest.Header{"alg": "RS256", "kid": f.Key().Kid, "cat": "cl_B7d4PD222AAA"}, f.SessionClaims("user_sdk")))
	add("garbage/m2m-jwt-bad-signature", clerktest.SignWith(sameKid, clerktest.Header{"alg": "RS256", "kid": sameKid.Kid, "typ": "JWT", "cat": clerk.CategoryM2M}, m2mClaims))
	add("garbage/m2m-jwt-session-category", clerktest.SignWith(f.Key(), clerktest.Header{"alg": "RS256", "kid": f.Key().Kid, "typ": "JWT", "cat": "cl_B7d4PD111AAA"}, m2mClaims))
	return creds
}

// machineAccepts are the acceptsToken values, with the token= rule that
// says the same. A one-element array (["oauth_token"]) is left out: the
// SDK treats it otherwise than the string (no header token is
// token-type-mismatch, not "No token in header"), and neither token= nor
// the policy file's token: can tell the two apart; both mean the string.
var machineAccepts = []struct {
	name  string
	sdk   any
	query string
}{
	{"unset", nil, ""},
	{"session_token", "session_token", "token=session_token"},
	{"api_key", "api_key", "token=api_key"},
	{"m2m_token", "m2m_token", "token=m2m_token"},
	{"oauth_token", "oauth_token", "token=oauth_token"},
	{"any", "any", "token=any"},
	{"[session_token,api_key]", []string{"session_token", "api_key"}, "token=session_token,api_key"},
	{"[api_key,m2m_token]", []string{"api_key", "m2m_token"}, "token=api_key,m2m_token"},
}

// cases is every credential in Authorization × every acceptsToken × an
// API and a document request, plus requests without a header token
// (cookies only); during an outage, API requests with a header token.
func (e *sdkMachineEnv) cases(t *testing.T, creds []credential, outage bool) []machineCase {
	t.Helper()
	kinds := []struct {
		name    string
		headers [][2]string
	}{
		{"api", [][2]string{{"Accept", "application/json"}}},
		{"document", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Accept", "text/html"}}},
	}
	if outage {
		kinds = kinds[:1]
	}
	f := e.fake
	now := time.Now()
	session := f.SessionClaims("user_cookie")
	session["iat"] = now.Add(-10 * time.Second).Unix()
	expired := f.SessionClaims("user_cookie")
	expired["iat"], expired["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
	apiKey := ""
	for _, c := range creds {
		if c.name == "api-key-user/valid" {
			apiKey = c.token
		}
	}
	cookieSets := []struct {
		name   string
		cookie string
		bearer string
	}{
		{"no-credentials", "", ""},
		{"session-cookie", "__session=" + f.Sign(session) + "; __client_uat=1", ""},
		{"expired-session-cookie", "__session=" + f.Sign(expired) + "; __client_uat=1", ""},
		{"api-key-in-session-cookie", "__session=" + apiKey + "; __client_uat=1", ""},
		{"api-key-header-and-session-cookie", "__session=" + f.Sign(session) + "; __client_uat=1", apiKey},
	}
	var cases []machineCase
	for _, acc := range machineAccepts {
		var rule *Rule
		if acc.query != "" {
			q, err := url.ParseQuery(acc.query)
			if err != nil {
				t.Fatal(err)
			}
			if rule, err = ParseRuleQuery(q); err != nil {
				t.Fatalf("%s: %v", acc.query, err)
			}
		}
		add := func(name string, headers [][2]string) {
			cases = append(cases, machineCase{
				sdkCase: sdkCase{
					name: acc.name + "/" + name, URL: "https://app.example.test/dashboard?tab=1", Method: http.MethodGet,
					Headers: headers, AcceptsToken: acc.sdk,
				},
				rule: rule, outage: outage,
			})
		}
		for _, kind := range kinds {
			for _, c := range creds {
				add(c.name+"/"+kind.name, append(slices.Clone(kind.headers), [2]string{"Authorization", "Bearer " + c.token}))
			}
			if outage {
				continue
			}
			for _, cs := range cookieSets {
				h := slices.Clone(kind.headers)
				if cs.bearer != "" {
					h = append(h, [2]string{"Authorization", "Bearer " + cs.bearer})
				}
				cookie := cs.cookie
				if !e.production {
					// A development browser carries its dev browser token.
					cookie = strings.TrimPrefix(cookie+"; __clerk_db_jwt=dvb_1", "; ")
				}
				if cookie != "" {
					h = append(h, [2]string{"Cookie", cookie})
				}
				add(cs.name+"/"+kind.name, h)
			}
		}
	}
	return cases
}
