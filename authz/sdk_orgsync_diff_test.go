package authz

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestOrganizationSyncMatchesClerkSDK: CLERK_ORGANIZATION_PATTERNS and
// CLERK_PERSONAL_ACCOUNT_PATTERNS against the SDK's organizationSyncOptions.
// Sessions without an organization, with one in v1 and v2 claims, pending
// and expired, on paths naming the same organization and another (by id
// and by slug, in other cases, percent-encoded), the personal account and
// neither, with the loop counter below, at and above 3, for every request
// kind: the outcome, reason, handshake URL (organization_id included) and
// cookies must be the SDK's.
func TestOrganizationSyncMatchesClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	setups := []struct {
		name        string
		production  bool
		org, person []string
	}{
		{"production by slug", true,
			[]string{"/orgs/:slug", "/orgs/:slug/(.*)"}, []string{"/me", "/me/(.*)"}},
		{"development by id and slug", false,
			[]string{"/o/:id", "/o/:id/(.*)", "/orgs/new", "/orgs/:slug/(.*)", "/orgs/:slug"}, []string{"/me", "/me/(.*)"}},
		{"production by id, no personal account", true,
			[]string{"/o/:id/(.*)", "/o/:id"}, nil},
		{"production personal account only", true,
			nil, []string{"/me/(.*)", "/"}},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			sync, err := NewOrganizationSync(setup.org, setup.person)
			if err != nil {
				t.Fatal(err)
			}
			env := newTestEnv(t, setup.production, func(c *Config, _ *clerk.VerifyOptions) { c.OrganizationSync = sync })
			cases := orgSyncCases(env, setup.production)
			opts := map[string]any{
				"publishableKey": env.fake.PublishableKey, "secretKey": env.fake.SecretKey,
				"jwtKey": env.fake.Key().PublicKeyPEM(), "apiUrl": env.fake.URL,
			}
			syncOpts := map[string]any{}
			if setup.org != nil {
				syncOpts["organizationPatterns"] = setup.org
			}
			if setup.person != nil {
				syncOpts["personalAccountPatterns"] = setup.person
			}
			opts["organizationSyncOptions"] = syncOpts
			results := runSDKWith(t, nodePath, opts, cases)
			mismatches := 0
			seen := map[string]int{}
			withOrgParam := 0
			for i, c := range cases {
				d := env.engine.Decide(context.Background(), c.request())
				s := results[i]
				seen[s.Status+" "+s.Reason]++
				if s.Reason != string(clerk.ReasonActiveOrganizationMismatch) && strings.Contains(s.Location, "&organization_id=") {
					withOrgParam++
				}
				if diff := compareWithSDK(d, s); diff != "" {
					mismatches++
					if mismatches <= 10 {
						t.Errorf("%s %s: %s\n  ours: %v %q loc=%.300q cookies=%v\n  sdk:  %s %q loc=%.300q cookies=%v",
							c.name, c.URL, diff, d.Outcome, d.Reason, d.Location, d.SetCookies, s.Status, s.Reason, s.Location, s.SetCookies)
					}
				}
			}
			if mismatches > 0 {
				t.Fatalf("%d of %d requests decided differently from @clerk/backend", mismatches, len(cases))
			}
			t.Logf("%d requests agree; SDK outcomes: %v", len(cases), seen)
			for _, w := range []string{"handshake active-organization-mismatch", "signed-in "} {
				if seen[w] == 0 {
					t.Errorf("no request the SDK answers %q: the corpus misses a branch", w)
				}
			}
			if withOrgParam == 0 {
				t.Error("no handshake for another reason carries organization_id: the corpus misses a branch")
			}
		})
	}
}

// orgSyncCases are requests with session cookies (and, on development
// instances, with and without the dev-browser cookie) or a bearer token.
func orgSyncCases(env *testEnv, production bool) []sdkCase {
	now := time.Now()
	fake := env.fake
	mint := func(mod func(clerktest.Claims)) string { return mintSession(fake, "user_org", now, mod) }
	v1 := func(c clerktest.Claims) {
		delete(c, "v")
		c["org_id"], c["org_slug"], c["org_role"], c["org_permissions"] = "org_1", "acme", "org:admin", []string{"org:a:read"}
	}
	tokens := []struct{ name, tok string }{
		{"no-org", mint(nil)},
		{"v1-org", mint(v1)},
		{"v2-org", mint(func(c clerktest.Claims) { c.WithOrg("org_2", "beta", "member", "", "read", "1") })},
		{"v2-org-no-slug", mint(func(c clerktest.Claims) { c.WithOrg("org_3", "", "member", "", "read", "1") })},
		{"pending-org", mint(func(c clerktest.Claims) { v1(c); c["sts"] = "pending" })},
		{"expired-org", mint(func(c clerktest.Claims) {
			v1(c)
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
		})},
	}
	paths := []string{
		"/dashboard", "/orgs", "/orgs/acme", "/orgs/acme/", "/orgs/acme/settings/team", "/orgs/beta?tab=1",
		"/ORGS/Acme", "/orgs/ac%20me", "/orgs/%61cme", "/orgs/acme%7E", "/orgs/new", "/orgs//x",
		"/o/org_1", "/o/org_2/x", "/o/ORG_1", "/o/org_1%2Fx", "/o/org_3",
		"/me", "/me/", "/ME/profile", "/media",
		"/orgs/a{b}", "/orgs/a`b", "/orgs/it's", "/orgs/caf%C3%A9", "/orgs/café", "/orgs/a[1]", "/orgs/a%7c",
		"/orgs/a|b", "/orgs/a^b", "/x|y^z?q=a|b",
	}
	kinds := browserKinds
	uats := []string{"1", strconv.FormatInt(now.Unix(), 10)} // signed in; iat before __client_uat
	devBrowsers := []string{"__clerk_db_jwt=dvb_1"}
	if production {
		devBrowsers = []string{""}
	} else {
		devBrowsers = append(devBrowsers, "")
	}
	var cases []sdkCase
	for _, tk := range tokens {
		for _, p := range paths {
			for _, kind := range kinds {
				cases = append(cases, sdkCase{
					name: fmt.Sprintf("%s/header/%s", tk.name, kind.name), URL: "https://app.example.test" + p, Method: kind.method,
					Headers: append(append([][2]string(nil), kind.headers...), [2]string{"Authorization", "Bearer " + tk.tok}),
				})
				for ui, uat := range uats {
					for di, db := range devBrowsers {
						for _, count := range []string{"", "2", "3", "7"} {
							ck := []string{"__session=" + tk.tok, "__client_uat=" + uat}
							if db != "" {
								ck = append(ck, db)
							}
							if count != "" {
								ck = append(ck, "__clerk_redirect_count="+count)
							}
							h := append(append([][2]string(nil), kind.headers...), [2]string{"Cookie", strings.Join(ck, "; ")})
							cases = append(cases, sdkCase{
								name: fmt.Sprintf("%s/uat%d/db%d/count%s/%s", tk.name, ui, di, count, kind.name),
								URL:  "https://app.example.test" + p, Method: kind.method, Headers: h,
							})
						}
					}
				}
			}
		}
	}
	return cases
}
