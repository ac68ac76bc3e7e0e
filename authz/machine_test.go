package authz

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// machineEnv is an engine that verifies machine tokens against a fake
// Clerk, on a clock the test moves.
type machineEnv struct {
	fake   *clerktest.Server
	engine *Engine
	lookup *MachineLookup
	clock  atomic.Int64 // unix nanoseconds
}

func (e *machineEnv) now() time.Time { return time.Unix(0, e.clock.Load()) }

func (e *machineEnv) advance(d time.Duration) { e.clock.Add(int64(d)) }

func newMachineEnv(t *testing.T, opts MachineLookupOptions) *machineEnv {
	t.Helper()
	env := &machineEnv{}
	env.clock.Store(time.Now().UnixNano())
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: true, Now: env.now})
	fake.SetRateLimit(1 << 20)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: env.now})
	root, err := clerk.NewAPI(fake.URL, "v1", fake.SecretKey, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = env.now
	lookup, err := NewMachineLookup(clerk.NewMachineVerifier(root, "", v), opts)
	if err != nil {
		t.Fatal(err)
	}
	memberships, err := NewMembershipLookup(api, LookupOptions{Now: env.now})
	if err != nil {
		t.Fatal(err)
	}
	env.fake, env.lookup = fake, lookup
	env.engine = NewEngine(Config{PublishableKey: pk, Now: env.now}, v, Options{Machines: lookup, Memberships: memberships})
	return env
}

// decide asks about a GET with Authorization: Bearer token (none when
// token is "") on a route with the rule query.
func (e *machineEnv) decide(t *testing.T, query, token string, headers ...string) Decision {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := ParseRuleQuery(q)
	if err != nil {
		t.Fatalf("rule %q: %v", query, err)
	}
	r := req(http.MethodGet, headers...)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	r.Rule = rule
	return e.engine.Decide(context.Background(), r)
}

func TestMachineCredentialsPassOnlyWhereTheRouteAcceptsThem(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	f := env.fake
	userKey, userKeyID := f.AddAPIKey(clerktest.APIKey{Subject: "user_k", Name: "ci", Scopes: []string{"reports:read"}})
	orgKey, _ := f.AddAPIKey(clerktest.APIKey{Subject: "org_k"})
	m2m, m2mID := f.AddM2MToken("mch_k", []string{"jobs:run"}, time.Time{})
	m2mJWT, m2mJWTID := f.SignM2MJWT("mch_j", []string{"a", "b"}, time.Hour)
	oauth, oauthID := f.AddOAuthToken("user_o", "client_o", []string{"profile"}, time.Time{})
	oauthJWT, _ := f.SignOAuthJWT("user_j", "client_j", []string{"email"}, time.Hour)
	session := f.Sign(f.SessionClaims("user_s"))
	tests := []struct {
		name, query, token string
		outcome            Outcome
		reason             clerk.Reason
		want               Identity // compared on Allow
	}{
		{"a user's API key", "token=api_key", userKey, Allow, "", Identity{TokenType: clerk.TokenTypeAPIKey, UserID: "user_k", TokenID: userKeyID, Scopes: []string{"reports:read"}}},
		{"an organization's API key", "token=api_key", orgKey, Allow, "", Identity{TokenType: clerk.TokenTypeAPIKey, OrgID: "org_k"}},
		{"an opaque M2M token", "token=m2m_token", m2m, Allow, "", Identity{TokenType: clerk.TokenTypeM2M, MachineID: "mch_k", TokenID: m2mID, Scopes: []string{"jobs:run"}}},
		{"an M2M JWT", "token=m2m_token", m2mJWT, Allow, "", Identity{TokenType: clerk.TokenTypeM2M, MachineID: "mch_j", TokenID: m2mJWTID, Scopes: []string{"a", "b"}}},
		{"an opaque OAuth token", "token=oauth_token", oauth, Allow, "", Identity{TokenType: clerk.TokenTypeOAuth, UserID: "user_o", TokenID: oauthID, Scopes: []string{"profile"}, ClientID: "client_o"}},
		{"an OAuth JWT", "token=oauth_token", oauthJWT, Allow, "", Identity{TokenType: clerk.TokenTypeOAuth, UserID: "user_j", Scopes: []string{"email"}, ClientID: "client_j"}},
		{"an API key on a list", "token=session_token,api_key", userKey, Allow, "", Identity{TokenType: clerk.TokenTypeAPIKey, UserID: "user_k"}},
		{"a session on a list", "token=session_token,api_key", session, Allow, "", Identity{TokenType: clerk.TokenTypeSession, UserID: "user_s"}},
		{"anything on any", "token=any", m2m, Allow, "", Identity{TokenType: clerk.TokenTypeM2M, MachineID: "mch_k"}},
		{"a session on any", "token=any", session, Allow, "", Identity{TokenType: clerk.TokenTypeSession, UserID: "user_s"}},

		{"an API key on a session route: the SDK reads it as a broken session token", "", userKey, Unauthenticated, clerk.ReasonTokenInvalid, Identity{}},
		{"an M2M JWT on a session route", "", m2mJWT, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"an M2M token on an API key route", "token=api_key", m2m, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"a session on an API key route", "token=api_key", session, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"an OAuth JWT on an M2M route", "token=m2m_token", oauthJWT, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"an API key not on the list", "token=session_token,oauth_token", userKey, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"a session not on the list", "token=api_key,m2m_token", session, Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"no token on a list without sessions", "token=api_key,m2m_token", "", Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"no token on a one-type route", "token=api_key", "", Unauthenticated, ReasonNoTokenInHeader, Identity{}},
		{"no token on any: the cookie flow", "token=any", "", Unauthenticated, clerk.ReasonSessionTokenAndUATMissing, Identity{}},
		{"an unknown API key", "token=api_key", "ak_unknown", Unauthenticated, clerk.ReasonTokenInvalid, Identity{}},
		{"garbage on an API key route", "token=api_key", "garbage", Unauthenticated, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"public route, wrong type: anonymous", "public=true&token=api_key", session, Allow, clerk.ReasonTokenTypeMismatch, Identity{}},
		{"public route, right type", "public=true&token=api_key", userKey, Allow, "", Identity{TokenType: clerk.TokenTypeAPIKey, UserID: "user_k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(t, tt.query, tt.token)
			wantDecision(t, d, tt.outcome, tt.reason)
			if tt.outcome != Allow {
				return
			}
			got, want := d.Identity, tt.want
			if got.TokenType != want.TokenType || got.UserID != want.UserID || got.OrgID != want.OrgID || got.MachineID != want.MachineID || got.ClientID != want.ClientID {
				t.Fatalf("identity %+v, want %+v", got, want)
			}
			if want.TokenID != "" && got.TokenID != want.TokenID {
				t.Fatalf("token id %q, want %q", got.TokenID, want.TokenID)
			}
			if want.Scopes != nil && !slices.Equal(got.Scopes, want.Scopes) {
				t.Fatalf("scopes %q, want %q", got.Scopes, want.Scopes)
			}
		})
	}
}

func TestMachineOnlyRoutesNeverSendABrowserToSignIn(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	d := env.decide(t, "token=api_key", "", "Sec-Fetch-Dest", "document", "Accept", "text/html")
	wantDecision(t, d, Unauthenticated, ReasonNoTokenInHeader)
	d = env.decide(t, "token=api_key,m2m_token", "", "Sec-Fetch-Dest", "document", "Accept", "text/html")
	wantDecision(t, d, Unauthenticated, clerk.ReasonTokenTypeMismatch)
	// A route that also takes sessions still sends browsers to sign in.
	d = env.decide(t, "token=session_token,api_key", "", "Sec-Fetch-Dest", "document", "Accept", "text/html")
	wantDecision(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
}

func TestMachineRulesApplyToWhomTheCredentialBelongs(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	f := env.fake
	f.AddMembership("user_k", "org_acme", "acme", "org:admin", "org:invoices:read")
	userKey, _ := f.AddAPIKey(clerktest.APIKey{Subject: "user_k", Scopes: []string{"reports:read", "reports:write"}})
	orgKey, _ := f.AddAPIKey(clerktest.APIKey{Subject: "org_acme", Scopes: []string{"reports:read"}})
	machineKey, _ := f.AddAPIKey(clerktest.APIKey{Subject: "mch_k"})
	m2m, _ := f.AddM2MToken("mch_k", []string{"jobs:run"}, time.Time{})
	oauth, _ := f.AddOAuthToken("user_k", "client_o", []string{"profile"}, time.Time{})
	session := f.Sign(f.SessionClaims("user_s"))
	tests := []struct {
		name, query, token string
		outcome            Outcome
		reason             clerk.Reason
		org                string
	}{
		{"every scope held", "token=api_key&scope=reports:read&scope=reports:write", userKey, Allow, "", ""},
		{"a scope missing", "token=api_key&scope=reports:read&scope=admin", userKey, Forbidden, ReasonScopeMissing, ""},
		{"a session carries no scopes", "token=any&scope=reports:read", session, Forbidden, ReasonScopeMissing, ""},
		{"a user's key: that user's membership", "token=api_key&org=acme&role=admin", userKey, Allow, "", "org_acme"},
		{"a user's key: a permission held", "token=api_key&org=org_acme&permission=org:invoices:read", userKey, Allow, "", "org_acme"},
		{"a user's key: not a member", "token=api_key&org=beta", userKey, Forbidden, ReasonNotOrgMember, ""},
		{"a user's key: no active organization", "token=api_key&role=admin", userKey, Forbidden, ReasonNoActiveOrg, ""},
		{"an OAuth token: its user's membership", "token=oauth_token&org=acme", oauth, Allow, "", "org_acme"},
		{"an organization's key names its organization", "token=api_key&org=org_acme&scope=reports:read", orgKey, Allow, "", "org_acme"},
		{"an organization's key, another organization", "token=api_key&org=org_beta", orgKey, Forbidden, ReasonNotOrgMember, ""},
		{"an organization's key, by slug", "token=api_key&org=acme", orgKey, Forbidden, ReasonNotOrgMember, ""},
		{"an organization's key holds no role", "token=api_key&org=org_acme&role=admin", orgKey, Forbidden, ReasonNotForMachines, ""},
		{"an M2M token belongs to no organization", "token=m2m_token&org=acme", m2m, Forbidden, ReasonNotForMachines, ""},
		{"a machine's key belongs to no organization", "token=api_key&permission=org:a:b", machineKey, Forbidden, ReasonNotForMachines, ""},
		{"an M2M token's scope", "token=m2m_token&scope=jobs:run", m2m, Allow, "", ""},
		{"features belong to sessions", "token=api_key&feature=export", userKey, Forbidden, ReasonNotForMachines, ""},
		{"plans belong to sessions", "token=oauth_token&plan=pro", oauth, Forbidden, ReasonNotForMachines, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(t, tt.query, tt.token)
			wantDecision(t, d, tt.outcome, tt.reason)
			if d.Identity.OrgID != tt.org && tt.outcome == Allow {
				t.Fatalf("org %q, want %q", d.Identity.OrgID, tt.org)
			}
		})
	}
}

func TestARevokedAPIKeyStopsWorkingWithinTheCacheTTL(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second})
	key, id := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	wantDecision(t, env.decide(t, "token=api_key", key), Allow, "")
	env.fake.RevokeAPIKey(id)
	env.advance(29 * time.Second)
	wantDecision(t, env.decide(t, "token=api_key", key), Allow, "") // within the TTL: Clerk not asked
	if n := env.fake.Calls(clerktest.RouteVerifyAPIKey); n != 1 {
		t.Fatalf("%d verify calls, want 1", n)
	}
	env.advance(2 * time.Second)
	wantDecision(t, env.decide(t, "token=api_key", key), Unauthenticated, clerk.ReasonTokenInvalid)
	// The refusal is remembered briefly, as a refusal.
	wantDecision(t, env.decide(t, "token=api_key", key), Unauthenticated, clerk.ReasonTokenInvalid)
	if n := env.fake.Calls(clerktest.RouteVerifyAPIKey); n != 2 {
		t.Fatalf("%d verify calls, want 2", n)
	}
}

func TestACachedCredentialNeverOutlivesItsExpiry(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{TTL: 10 * time.Minute})
	key, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_k", Expiration: env.now().Add(10 * time.Second)})
	wantDecision(t, env.decide(t, "token=api_key", key), Allow, "")
	env.advance(11 * time.Second)
	wantDecision(t, env.decide(t, "token=api_key", key), Unauthenticated, clerk.ReasonTokenInvalid)
	jwt, _ := env.fake.SignM2MJWT("mch_j", nil, 20*time.Second)
	wantDecision(t, env.decide(t, "token=m2m_token", jwt), Allow, "")
	env.advance(30 * time.Second)
	wantDecision(t, env.decide(t, "token=m2m_token", jwt), Unauthenticated, clerk.ReasonTokenVerificationFailed)
}

func TestConcurrentMissesForOneCredentialMakeOneCall(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	env.fake.SetLatency(50 * time.Millisecond)
	key, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for range 200 {
		wg.Go(func() {
			if env.decide(t, "token=api_key", key).Outcome == Allow {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 200 {
		t.Fatalf("%d of 200 allowed", allowed.Load())
	}
	if n := env.fake.Calls(clerktest.RouteVerifyAPIKey); n != 1 {
		t.Fatalf("%d verify calls for 200 concurrent requests, want 1", n)
	}
}

func TestWhenClerkIsDownACachedAnswerServesThenItIs503(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{TTL: 30 * time.Second, StaleWindow: time.Minute})
	known, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	unseen, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_u"})
	wantDecision(t, env.decide(t, "token=api_key", known), Allow, "")
	env.fake.FailWith(http.StatusInternalServerError, 0)
	env.advance(45 * time.Second)
	wantDecision(t, env.decide(t, "token=api_key", known), Allow, "") // stale, within the window
	wantDecision(t, env.decide(t, "token=api_key", unseen), Unavailable, clerk.ReasonUnexpectedError)
	env.advance(time.Minute)
	wantDecision(t, env.decide(t, "token=api_key", known), Unavailable, clerk.ReasonUnexpectedError)
	// Back up: the outage was never remembered.
	env.fake.FailWith(0, 0)
	wantDecision(t, env.decide(t, "token=api_key", unseen), Allow, "")
}

func TestARateLimitFailsClosedAndPausesCalls(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	key, _ := env.fake.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	env.fake.FailWith(http.StatusTooManyRequests, 7*time.Second)
	wantDecision(t, env.decide(t, "token=api_key", key), Unavailable, clerk.ReasonUnexpectedError)
	env.fake.FailWith(0, 0)
	wantDecision(t, env.decide(t, "token=api_key", key), Unavailable, clerk.ReasonUnexpectedError) // backing off
	if n := env.fake.Calls(clerktest.RouteVerifyAPIKey); n != 1 {
		t.Fatalf("%d verify calls during the back-off, want 1", n)
	}
	env.advance(8 * time.Second)
	wantDecision(t, env.decide(t, "token=api_key", key), Allow, "")
}

func TestNewCredentialsBeyondTheVerifyRateAre503WhileKnownOnesServe(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{VerifyRate: 1, VerifyBurst: 2})
	f := env.fake
	known, _ := f.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	second, _ := f.AddAPIKey(clerktest.APIKey{Subject: "user_2"})
	third, _ := f.AddAPIKey(clerktest.APIKey{Subject: "user_3"})
	jwt, _ := f.SignM2MJWT("mch_j", nil, time.Hour)
	wantDecision(t, env.decide(t, "token=api_key", known), Allow, "")
	wantDecision(t, env.decide(t, "token=api_key", second), Allow, "")
	// The budget is spent: garbage and new keys alike wait, Clerk is not asked.
	wantDecision(t, env.decide(t, "token=api_key", "ak_garbage"), Unavailable, ReasonVerifyThrottled)
	wantDecision(t, env.decide(t, "token=api_key", third), Unavailable, ReasonVerifyThrottled)
	if n := env.fake.Calls(clerktest.RouteVerifyAPIKey); n != 2 {
		t.Fatalf("%d verify calls, want 2", n)
	}
	wantDecision(t, env.decide(t, "token=api_key", known), Allow, "") // cached
	wantDecision(t, env.decide(t, "token=m2m_token", jwt), Allow, "") // verified locally
	env.advance(time.Second)
	wantDecision(t, env.decide(t, "token=api_key", third), Allow, "")
}

// The back-off after a 429 holds Backend API calls back; machine JWTs
// need none, so during it they are verified as ever (as the SDK verifies
// them), valid ones pass and bad ones are refused, never 503. Found by
// TestMachineDecisionsMatchClerkSDK.
func TestMachineJWTsAreVerifiedDuringARateLimitBackOff(t *testing.T) {
	env := newMachineEnv(t, MachineLookupOptions{})
	f := env.fake
	key, _ := f.AddAPIKey(clerktest.APIKey{Subject: "user_k"})
	m2mJWT, _ := f.SignM2MJWT("mch_j", []string{"a"}, time.Hour)
	oauthJWT, _ := f.SignOAuthJWT("user_j", "client_j", nil, time.Hour)
	expiredJWT, _ := f.SignM2MJWT("mch_j", nil, -time.Hour)
	f.FailWith(http.StatusTooManyRequests, time.Minute)
	wantDecision(t, env.decide(t, "token=any", key), Unavailable, clerk.ReasonUnexpectedError)
	f.FailWith(0, 0)
	wantDecision(t, env.decide(t, "token=any", key), Unavailable, clerk.ReasonUnexpectedError) // still backing off
	for _, tc := range []struct {
		name, token string
		outcome     Outcome
		reason      clerk.Reason
	}{
		{"an M2M JWT", m2mJWT, Allow, ""},
		{"an OAuth JWT", oauthJWT, Allow, ""},
		{"an expired M2M JWT", expiredJWT, Unauthenticated, clerk.ReasonTokenVerificationFailed},
		{"a JWT-shaped M2M token that does not decode", "mt_x.y.z", Unauthenticated, clerk.ReasonTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDecision(t, env.decide(t, "token=any", tc.token), tc.outcome, tc.reason)
		})
	}
	if n := f.Calls(clerktest.RouteVerifyAPIKey); n != 1 {
		t.Fatalf("%d API key verify calls during the back-off, want 1", n)
	}
}
