package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/internal/testclock"
)

// orgEnv is an engine whose memberships (and optionally profiles) come
// from a fake Clerk through the caches, on a test clock.
type orgEnv struct {
	fake     *clerktest.Server
	engine   *Engine
	lookup   *MembershipLookup
	profiles *ProfileLookup
	clock    *testclock.Clock
}

type orgEnvOptions struct {
	profiles bool
	policy   Policy
	noStale  bool // MEMBERSHIP_STALE_WINDOW=0
}

func newOrgEnv(t testing.TB, o orgEnvOptions) *orgEnv {
	t.Helper()
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: true})
	clk := testclock.New(time.Now())
	lopts := LookupOptions{Size: 1000, TTL: 30 * time.Second, NegativeTTL: 10 * time.Second, StaleWindow: 2 * time.Minute, Now: clk.Now}
	if o.noStale {
		lopts.StaleWindow = 0
	}
	lookup, err := NewMembershipLookup(api, lopts)
	if err != nil {
		t.Fatal(err)
	}
	env := &orgEnv{fake: fake, lookup: lookup, clock: clk}
	opts := Options{Memberships: lookup, Policy: o.policy}
	if o.profiles {
		env.profiles, err = NewProfileLookup(api, lopts)
		if err != nil {
			t.Fatal(err)
		}
		opts.Profiles = env.profiles
	}
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	env.engine = NewEngine(Config{PublishableKey: pk}, v, opts)
	return env
}

// memberships is how often the membership list was called.
func (e *orgEnv) memberships() int { return e.fake.Calls(clerktest.RouteUserMemberships) }

// apiRequest is a non-browser request with a Bearer token and a rule.
func apiRequest(token, rawURL string, rule *Rule) *Request {
	u, _ := url.Parse(rawURL)
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return &Request{Method: http.MethodGet, URL: u, Header: h, Rule: rule}
}

func (e *orgEnv) decide(token string, rule *Rule) Decision {
	return e.engine.Decide(context.Background(), apiRequest(token, "https://app.example.test/x", rule))
}

// mustRule parses an auth URL query as the handlers do.
func mustRule(t testing.TB, query string) *Rule {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRuleQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		r = &Rule{}
	}
	return r
}

// v2Token: active organization org_active ("acme"), role admin, with
// org:invoices:read and org:invoices:write (feature "invoices", mask 3).
func (e *orgEnv) v2Token(userID string) string {
	return e.fake.Sign(e.fake.SessionClaims(userID).WithOrg("org_active", "acme", "admin", "o:invoices", "read,write", "3"))
}

// v1Token: the same active organization in v1 org_* claims.
func (e *orgEnv) v1Token(userID string) string {
	c := e.fake.SessionClaims(userID)
	delete(c, "v")
	c["org_id"], c["org_slug"], c["org_role"] = "org_active", "acme", "org:admin"
	c["org_permissions"] = []string{"org:invoices:read", "org:invoices:write"}
	return e.fake.Sign(c)
}

// noOrgToken: signed in, no active organization.
func (e *orgEnv) noOrgToken(userID string) string {
	return e.fake.Sign(e.fake.SessionClaims(userID))
}

func wantDecision(t *testing.T, d Decision, outcome Outcome, reason clerk.Reason) {
	t.Helper()
	if d.Outcome != outcome || d.Reason != reason {
		t.Fatalf("decision %s/%q (%s), want %s/%q", d.Outcome, d.Reason, d.Message, outcome, reason)
	}
}

func TestActiveOrganizationDecidesWithoutAPICalls(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	tokens := map[string]string{"v1": env.v1Token("user_1"), "v2": env.v2Token("user_1")}
	tests := []struct {
		query   string
		outcome Outcome
		reason  clerk.Reason
	}{
		{"org=org_active", Allow, ""},
		{"org=acme", Allow, ""},
		{"role=admin", Allow, ""},
		{"role=org:admin", Allow, ""},
		{"org=acme&role=admin&permission=org:invoices:read&permission=org:invoices:write", Allow, ""},
		{"permission=org:invoices:read", Allow, ""},
		{"role=org:member", Forbidden, ReasonRoleMissing},
		{"org=acme&role=org:billing", Forbidden, ReasonRoleMissing},
		{"permission=org:invoices:delete", Forbidden, ReasonPermissionMissing},
		{"org=acme&permission=org:invoices:read&permission=org:reports:read", Forbidden, ReasonPermissionMissing},
		{"permission=org:sys_memberships:read", Forbidden, ReasonPermissionMissing},
	}
	for version, token := range tokens {
		for _, tt := range tests {
			t.Run(version+"/"+tt.query, func(t *testing.T) {
				d := env.decide(token, mustRule(t, tt.query))
				wantDecision(t, d, tt.outcome, tt.reason)
				id := d.Identity
				if id.UserID != "user_1" || id.OrgID != "org_active" || id.OrgSlug != "acme" || id.OrgRole != "org:admin" ||
					!slices.Equal(id.OrgPermissions, []string{"org:invoices:read", "org:invoices:write"}) {
					t.Fatalf("identity %+v, want the active organization", id)
				}
			})
		}
	}
	if n := env.memberships(); n != 0 {
		t.Fatalf("%d membership API calls, want 0: the token answers for its active organization", n)
	}
}

func TestOtherOrganizationsAreCheckedThroughTheBackendAPI(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_active", "acme", "org:admin", "org:invoices:read")
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:member", "org:docs:read", "org:sys_memberships:read")
	tokens := map[string]string{"v1": env.v1Token("user_1"), "v2": env.v2Token("user_1"), "no active org": env.noOrgToken("user_1")}
	beta := Identity{UserID: "user_1", OrgID: "org_beta", OrgSlug: "beta", OrgRole: "org:member", OrgPermissions: []string{"org:docs:read"}}
	tests := []struct {
		query   string
		outcome Outcome
		reason  clerk.Reason
		org     string // the organization the identity names on allow
	}{
		{"org=org_beta", Allow, "", "org_beta"},
		{"org=beta", Allow, "", "org_beta"},
		{"org=beta&role=member", Allow, "", "org_beta"},
		{"org=beta&permission=org:docs:read", Allow, "", "org_beta"},
		{"org=org_gamma", Forbidden, ReasonNotOrgMember, ""},
		{"org=gamma", Forbidden, ReasonNotOrgMember, ""},
		{"org=beta&role=admin", Forbidden, ReasonRoleMissing, ""},
		{"org=beta&permission=org:docs:write", Forbidden, ReasonPermissionMissing, ""},
		// System permissions are never in tokens, so they never count.
		{"org=beta&permission=org:sys_memberships:read", Forbidden, ReasonPermissionMissing, ""},
		// Every listed organization must hold; the first names the identity.
		{"org=beta&org=org_active", Allow, "", "org_beta"},
		{"org=beta&org=org_gamma", Forbidden, ReasonNotOrgMember, ""},
	}
	for version, token := range tokens {
		for _, tt := range tests {
			t.Run(version+"/"+tt.query, func(t *testing.T) {
				d := env.decide(token, mustRule(t, tt.query))
				wantDecision(t, d, tt.outcome, tt.reason)
				if tt.outcome == Allow {
					if tt.org == "org_beta" && (d.Identity.OrgID != beta.OrgID || d.Identity.OrgSlug != beta.OrgSlug ||
						d.Identity.OrgRole != beta.OrgRole || !slices.Equal(d.Identity.OrgPermissions, beta.OrgPermissions)) {
						t.Fatalf("identity %+v, want the organization that satisfied the rule: %+v", d.Identity, beta)
					}
				}
			})
		}
	}
	if n := env.memberships(); n != 1 {
		t.Fatalf("%d membership API calls for one user inside the TTL, want 1", n)
	}
}

func TestMembershipsBeyondOnePageAreFound(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	for i := range 600 {
		env.fake.AddMembership("user_1", fmt.Sprintf("org_%03d", i), fmt.Sprintf("team-%03d", i), "org:member")
	}
	token := env.noOrgToken("user_1")
	wantDecision(t, env.decide(token, mustRule(t, "org=team-599")), Allow, "")
	wantDecision(t, env.decide(token, mustRule(t, "org=org_000")), Allow, "")
	wantDecision(t, env.decide(token, mustRule(t, "org=team-600")), Forbidden, ReasonNotOrgMember)
	if n := env.memberships(); n != 2 {
		t.Fatalf("%d API calls, want 2 pages of 500", n)
	}
}

func TestMembershipCacheCallsClerkOncePerUserPerTTL(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:member")
	token := env.noOrgToken("user_1")
	rule := mustRule(t, "org=beta")
	wantDecision(t, env.decide(token, &Rule{}), Allow, "") // load the signing keys first
	env.fake.SetLatency(500 * time.Millisecond)            // keep the first call in flight

	const n = 1000
	var wg sync.WaitGroup
	decisions := make(chan Decision, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions <- env.decide(token, rule)
		}()
	}
	wg.Wait()
	close(decisions)
	for d := range decisions {
		wantDecision(t, d, Allow, "")
	}
	if got := env.memberships(); got != 1 {
		t.Fatalf("%d concurrent first requests made %d API calls, want 1", n, got)
	}
	env.fake.SetLatency(0)

	env.clock.Advance(29 * time.Second)
	wantDecision(t, env.decide(token, rule), Allow, "")
	if got := env.memberships(); got != 1 {
		t.Fatalf("inside the TTL: %d API calls, want still 1", got)
	}
	env.clock.Advance(time.Second)
	wantDecision(t, env.decide(token, rule), Allow, "")
	if got := env.memberships(); got != 2 {
		t.Fatalf("after the TTL: %d API calls, want 2", got)
	}
	s := env.lookup.Stats()
	if s.CoalescedWaits != n-1 || s.Hits != 1 || s.Misses != n+1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestARemovedMembershipStopsWorkingAfterTheTTL(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:admin")
	token := env.noOrgToken("user_1")
	wantDecision(t, env.decide(token, mustRule(t, "org=beta&role=admin")), Allow, "")
	// A cached membership is re-checked against every route's rule.
	wantDecision(t, env.decide(token, mustRule(t, "org=beta&permission=org:billing:manage")), Forbidden, ReasonPermissionMissing)
	env.fake.RemoveMembership("user_1", "org_beta")
	env.clock.Advance(30 * time.Second)
	wantDecision(t, env.decide(token, mustRule(t, "org=beta")), Forbidden, ReasonNotOrgMember)
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:member")
	if err := env.lookup.Invalidate(context.Background(), "user_1"); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, env.decide(token, mustRule(t, "org=beta&role=admin")), Forbidden, ReasonRoleMissing)
}

func TestNegativeAnswersAreCachedBriefly(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddUser("user_lonely", "", "", "")
	tests := []struct{ name, user string }{
		{"user without memberships", "user_lonely"},
		{"user unknown to Clerk (404)", "user_deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.fake.ResetCalls()
			token := env.noOrgToken(tt.user)
			wantDecision(t, env.decide(token, mustRule(t, "org=beta")), Forbidden, ReasonNotOrgMember)
			env.clock.Advance(9 * time.Second)
			wantDecision(t, env.decide(token, mustRule(t, "org=beta")), Forbidden, ReasonNotOrgMember)
			if n := env.memberships(); n != 1 {
				t.Fatalf("inside the negative TTL: %d calls, want 1", n)
			}
			env.fake.AddMembership(tt.user, "org_beta", "beta", "org:member")
			env.clock.Advance(time.Second)
			wantDecision(t, env.decide(token, mustRule(t, "org=beta")), Allow, "")
			if n := env.memberships(); n != 2 {
				t.Fatalf("after the negative TTL: %d calls, want 2", n)
			}
		})
	}
}

func TestClerkOutagesServeStaleAnswersOrFailClosed(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:member")
	env.fake.AddMembership("user_2", "org_beta", "beta", "org:member")
	known, unknown := env.noOrgToken("user_1"), env.noOrgToken("user_2")
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Allow, "")

	env.fake.FailWith(http.StatusInternalServerError, 0)
	env.clock.Advance(31 * time.Second)
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Allow, "")                      // stale
	wantDecision(t, env.decide(known, mustRule(t, "org=gamma")), Forbidden, ReasonNotOrgMember) // stale, still decided
	wantDecision(t, env.decide(unknown, mustRule(t, "org=beta")), Unavailable, ReasonMembershipLookup)

	env.clock.Advance(2 * time.Minute) // past the stale window
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Unavailable, ReasonMembershipLookup)
	// A rule the token answers needs no lookup, outage or not.
	wantDecision(t, env.decide(known, &Rule{}), Allow, "")

	env.fake.FailWith(0, 0)
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Allow, "")
	if s := env.lookup.Stats(); s.StaleServes != 2 || s.LoaderErrors != 4 {
		t.Fatalf("stats %+v, want 2 stale serves and 4 loader errors", s)
	}
}

// TestAZeroStaleWindowNeverServesStale: MEMBERSHIP_STALE_WINDOW=0 turns
// stale serving off, as documented (it used to fall back to 2m).
func TestAZeroStaleWindowNeverServesStale(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{noStale: true})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:member")
	known := env.noOrgToken("user_1")
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Allow, "")
	env.fake.FailWith(http.StatusInternalServerError, 0)
	env.clock.Advance(31 * time.Second)
	wantDecision(t, env.decide(known, mustRule(t, "org=beta")), Unavailable, ReasonMembershipLookup)
}

func TestRetryAfterIsRespected(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	for _, u := range []string{"user_1", "user_2", "user_3"} {
		env.fake.AddMembership(u, "org_beta", "beta", "org:member")
	}
	cached, first, second := env.noOrgToken("user_1"), env.noOrgToken("user_2"), env.noOrgToken("user_3")
	wantDecision(t, env.decide(cached, mustRule(t, "org=beta")), Allow, "")
	env.clock.Advance(31 * time.Second) // user_1 is stale from here on

	env.fake.FailWith(http.StatusTooManyRequests, 5*time.Second)
	wantDecision(t, env.decide(first, mustRule(t, "org=beta")), Unavailable, ReasonMembershipLookup)
	calls := env.memberships()
	env.fake.FailWith(0, 0) // Clerk would answer now, but asked us to wait
	env.clock.Advance(4 * time.Second)
	wantDecision(t, env.decide(second, mustRule(t, "org=beta")), Unavailable, ReasonMembershipLookup)
	wantDecision(t, env.decide(cached, mustRule(t, "org=beta")), Allow, "") // stale meanwhile
	if n := env.memberships(); n != calls {
		t.Fatalf("%d API calls before Retry-After passed, want none", n-calls)
	}
	env.clock.Advance(time.Second)
	wantDecision(t, env.decide(second, mustRule(t, "org=beta")), Allow, "")
	if n := env.memberships(); n != calls+1 {
		t.Fatalf("after Retry-After: %d calls, want 1", n-calls)
	}
	if s := env.lookup.Stats(); s.RateLimitBackoffs != 1 {
		t.Fatalf("stats %+v, want 1 back-off", s)
	}
}

func TestProfileHeadersComeFromTheUserThroughTheCache(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{profiles: true})
	env.fake.AddUser("user_1", "ada@example.com", "Ada", "Lovelace")
	token := env.noOrgToken("user_1")
	for range 2 {
		d := env.decide(token, &Rule{})
		wantDecision(t, d, Allow, "")
		if !d.Identity.ProfileHeaders || d.Identity.Email != "ada@example.com" || d.Identity.Name != "Ada Lovelace" {
			t.Fatalf("identity %+v", d.Identity)
		}
	}
	if n := env.fake.Calls(clerktest.RouteUser); n != 1 {
		t.Fatalf("%d user API calls, want 1", n)
	}
	// An anonymous allow still carries the (empty) headers, so a client's
	// copy is overwritten.
	d := env.decide("", &Rule{Public: true})
	if d.Outcome != Allow || !d.Identity.ProfileHeaders || d.Identity.Email != "" {
		t.Fatalf("anonymous public allow: %+v", d)
	}
	// A refusal does not look the profile up.
	env.fake.ResetCalls()
	wantDecision(t, env.decide(env.noOrgToken("user_2"), mustRule(t, "org=beta")), Forbidden, ReasonNotOrgMember)
	if n := env.fake.Calls(clerktest.RouteUser); n != 0 {
		t.Fatalf("%d user API calls for a refusal", n)
	}
	// Clerk down and nothing cached: 503, not headers that lie.
	env.fake.FailWith(http.StatusBadGateway, 0)
	wantDecision(t, env.decide(env.noOrgToken("user_3"), &Rule{}), Unavailable, ReasonUserLookup)
}

func TestProfileHeadersAreOffByDefault(t *testing.T) {
	env := newOrgEnv(t, orgEnvOptions{})
	env.fake.AddUser("user_1", "ada@example.com", "Ada", "Lovelace")
	d := env.decide(env.noOrgToken("user_1"), &Rule{})
	if d.Outcome != Allow || d.Identity.ProfileHeaders || d.Identity.Email != "" {
		t.Fatalf("decision %+v", d)
	}
	if n := env.fake.Calls(clerktest.RouteUser); n != 0 {
		t.Fatalf("%d user API calls", n)
	}
}

func TestPolicyFileAppliesUnlessTheAuthURLHasARule(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	policy := "rules:\n  - path: /public/\n    public: true\n  - host: \"*.example.test\"\n    path: /admin/\n    org: beta\n    role: admin\n  - signed_in: true\n"
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicyFile(file, PolicyFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := newOrgEnv(t, orgEnvOptions{policy: p})
	env.fake.AddMembership("user_admin", "org_beta", "beta", "org:admin")
	env.fake.AddMembership("user_member", "org_beta", "beta", "org:member")
	admin, member := env.noOrgToken("user_admin"), env.noOrgToken("user_member")
	tests := []struct {
		name, token, url string
		rule             *Rule
		outcome          Outcome
		reason           clerk.Reason
	}{
		{"public path, anonymous", "", "https://app.example.test/public/a", nil, Allow, clerk.ReasonSessionTokenAndUATMissing},
		{"admin path, admin", admin, "https://app.example.test/admin/x", nil, Allow, ""},
		{"admin path, member", member, "https://APP.example.test/admin/x", nil, Forbidden, ReasonRoleMissing},
		{"admin path, anonymous", "", "https://app.example.test/admin/x", nil, Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
		{"default rule", member, "https://app.example.test/home", nil, Allow, ""},
		{"the auth URL's rule wins", "", "https://app.example.test/admin/x", &Rule{Public: true}, Allow, clerk.ReasonSessionTokenAndUATMissing},
		{"the auth URL's rule wins, stricter", member, "https://app.example.test/public/a", mustRule(t, "org=beta&role=admin"), Forbidden, ReasonRoleMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.engine.Decide(context.Background(), apiRequest(tt.token, tt.url, tt.rule))
			wantDecision(t, d, tt.outcome, tt.reason)
		})
	}
}

// BenchmarkCachedOrgDecision: a signed-in request whose rule names an
// organization other than the active one, answered from the membership
// cache (token verification included).
func BenchmarkCachedOrgDecision(b *testing.B) {
	env := newOrgEnv(b, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:admin", "org:docs:read")
	req := apiRequest(env.v2Token("user_1"), "https://app.example.test/x", mustRule(b, "org=beta&role=admin&permission=org:docs:read"))
	ctx := context.Background()
	if d := env.engine.Decide(ctx, req); d.Outcome != Allow {
		b.Fatalf("warm-up: %s %s", d.Outcome, d.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := env.engine.Decide(ctx, req); d.Outcome != Allow {
			b.Fatal(d.Reason)
		}
	}
	b.StopTimer()
	if n := env.memberships(); n != 1 {
		b.Fatalf("%d API calls, want 1", n)
	}
}

// BenchmarkMembershipLookupHit: the cache alone, a user already looked up.
func BenchmarkMembershipLookupHit(b *testing.B) {
	env := newOrgEnv(b, orgEnvOptions{})
	env.fake.AddMembership("user_1", "org_beta", "beta", "org:admin")
	ctx := context.Background()
	if m, err := env.lookup.Membership(ctx, "user_1", "beta"); m == nil || err != nil {
		b.Fatal(m, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := env.lookup.Membership(ctx, "user_1", "beta"); m == nil {
			b.Fatal("not found")
		}
	}
}

// TestRoleRulesCompareRolesAsHasDoes: has({role}) compares the token's
// role and the asked one after prefixWithOrg, so a v1 org_role without
// "org:" and a v2 rol that already carries it both hold org:admin; a
// different role still does not.
func TestRoleRulesCompareRolesAsHasDoes(t *testing.T) {
	env := newTestEnv(t, true, nil)
	v1 := func(role string) func(clerktest.Claims) {
		return func(c clerktest.Claims) {
			delete(c, "v")
			c["org_id"], c["org_slug"], c["org_role"] = "org_1", "acme", role
		}
	}
	v2 := func(rol string) func(clerktest.Claims) {
		return func(c clerktest.Claims) { c.WithOrg("org_2", "beta", rol, "", "", "") }
	}
	tests := []struct {
		name    string
		claims  func(clerktest.Claims)
		role    string
		outcome Outcome
	}{
		{"v1 org_role admin, rule org:admin", v1("admin"), "org:admin", Allow},
		{"v1 org_role admin, rule admin", v1("admin"), "admin", Allow},
		{"v1 org_role org:org:admin, rule org:admin", v1("org:org:admin"), "org:admin", Allow},
		{"v2 rol org:admin, rule org:admin", v2("org:admin"), "org:admin", Allow},
		{"v2 rol admin, rule org:admin", v2("admin"), "org:admin", Allow},
		{"v1 org_role org:member, rule org:admin", v1("org:member"), "org:admin", Forbidden},
		{"v1 org_role orgadmin, rule org:admin", v1("orgadmin"), "org:admin", Forbidden},
		{"v1 org_role org:, rule org:admin", v1("org:"), "org:admin", Forbidden},
		{"v2 rol member, rule member", v2("member"), "member", Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := ParseRuleQuery(url.Values{"role": {tt.role}})
			if err != nil {
				t.Fatal(err)
			}
			r := req("GET", "Authorization", "Bearer "+env.token(tt.claims))
			r.Rule = rule
			d := env.decide(r)
			if d.Outcome != tt.outcome || (d.Outcome == Forbidden && d.Reason != ReasonRoleMissing) {
				t.Fatalf("got %v/%q (%s), want %v", d.Outcome, d.Reason, d.Message, tt.outcome)
			}
		})
	}
}
