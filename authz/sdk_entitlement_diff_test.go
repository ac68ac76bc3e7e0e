package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestFeatureAndPlanRulesMatchClerkSDK: a feature= or plan= rule allows
// exactly when @clerk/backend's auth.has({feature}) or has({plan}) is
// true for the same token, over every scope spelling the SDK accepts and
// fea/pla claims of every shape (both scopes, "ou", spaces, a malformed
// entry, none).
func TestFeatureAndPlanRulesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	env := newSDKMachineEnv(t, true, false)
	fake := env.fake
	now := time.Now()
	mint := func(fea, pla string) string {
		c := fake.SessionClaims("user_b")
		c["iat"] = now.Add(-10 * time.Second).Unix()
		if fea != "-" {
			c["fea"] = fea
		}
		if pla != "-" {
			c["pla"] = pla
		}
		return fake.Sign(c)
	}
	claims := []string{"-", "", "o:export", "u:export", "ou:export", "uo:export", "o:sso,u:premium", "o:sso, u:export",
		"o:other", "x:export", "o:export,broken", "broken", "o:", "u:export:extra"}
	wants := []string{"export", "o:export", "org:export", "organization:export", "u:export", "user:export", "sso", "o:sso", "u:premium", "premium"}
	var cases []sdkCase
	var rules []*Rule
	for _, claim := range claims {
		for _, kind := range []string{"feature", "plan"} {
			token := mint(claim, "u:free")
			if kind == "plan" {
				token = mint("o:x", claim)
			}
			for _, want := range wants {
				rule, err := ParseRuleQuery(url.Values{kind: {want}})
				if err != nil {
					t.Fatalf("%s=%s: %v", kind, want, err)
				}
				rules = append(rules, rule)
				cases = append(cases, sdkCase{name: kind + "=" + want + " on " + claim, URL: "https://app.example.test/dashboard", Method: "GET",
					Headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + token}}, Has: map[string]any{kind: want}})
			}
		}
	}
	compareHas(t, nodePath, env, cases, rules, []clerk.Reason{ReasonFeatureMissing, ReasonPlanMissing}, nil)
}

// TestReverificationRulesMatchClerkSDK: a reverification= rule allows
// exactly when has({ reverification }) is true for the same token, for
// every preset and level over fva claims of every shape, and its 403 body
// is, byte for byte, the reverificationError @clerk/shared builds (what
// Clerk's frontend looks for).
func TestReverificationRulesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	env := newSDKMachineEnv(t, true, false)
	fake := env.fake
	now := time.Now()
	fvas := []any{nil, []int{0, -1}, []int{5, -1}, []int{30, -1}, []int{-1, 5}, []int{-1, -1}, []int{5, 5}, []int{5, 70},
		[]int{70, 5}, []int{2000, 2000}, []int{9, 9}, []int{10, 10}, []any{5, "x"}, []int{1, 2, 3}, []int{-2, 1}, []float64{0.5, 9.99}, "5,5"}
	type rv struct {
		query string
		has   any
	}
	rules := []rv{{"strict", "strict"}, {"strict_mfa", "strict_mfa"}, {"moderate", "moderate"}, {"lax", "lax"},
		// In the key order Clerk's documentation writes them (a Go map
		// would sort them), which the SDK's error echoes.
		{"first_factor:10", json.RawMessage(`{"level":"first_factor","afterMinutes":10}`)},
		{"second_factor:60", json.RawMessage(`{"level":"second_factor","afterMinutes":60}`)},
		{"multi_factor:6", json.RawMessage(`{"level":"multi_factor","afterMinutes":6}`)}}
	var cases []sdkCase
	var parsed []*Rule
	for i, fva := range fvas {
		c := fake.SessionClaims("user_r")
		c["iat"] = now.Add(-10 * time.Second).Unix()
		if fva != nil {
			c["fva"] = fva
		} else {
			delete(c, "fva")
		}
		token := fake.Sign(c)
		for _, r := range rules {
			rule, err := ParseRuleQuery(url.Values{"reverification": {r.query}})
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, rule)
			cases = append(cases, sdkCase{name: fmt.Sprintf("reverification=%s on fva #%d %v", r.query, i, fva), URL: "https://app.example.test/dashboard", Method: "GET",
				Headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + token}}, Has: map[string]any{"reverification": r.has}})
		}
	}
	compareHas(t, nodePath, env, cases, parsed, []clerk.Reason{ReasonReverificationRequired}, func(c sdkCase, d Decision, s sdkResult) {
		if s.ReverificationBody == nil {
			t.Fatalf("%s: the SDK gave no reverificationError", c.name)
		}
		if got := d.ReverificationBody(); got != *s.ReverificationBody {
			t.Errorf("%s: body %s, the SDK's reverificationError %s", c.name, got, *s.ReverificationBody)
		}
	})
}

// TestRoleAndPermissionRulesMatchClerkSDK: a role= or permission= rule
// allows exactly when has({role}) or has({permission}) is true for the
// same token, whatever spelling of the role the token carries (v1
// org_role with or without "org:", v2 rol) and the rule names: has()
// compares both after prefixWithOrg, which makes one "org:" of any number.
func TestRoleAndPermissionRulesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	env := newSDKMachineEnv(t, true, false)
	fake := env.fake
	now := time.Now()
	type tok struct {
		name string
		mod  func(clerktest.Claims)
	}
	v1 := func(role string) tok {
		return tok{"v1 org_role " + role, func(c clerktest.Claims) {
			delete(c, "v")
			c["org_id"], c["org_slug"], c["org_role"], c["org_permissions"] = "org_1", "acme", role, []string{"org:invoices:read"}
		}}
	}
	v2 := func(rol string) tok {
		return tok{"v2 rol " + rol, func(c clerktest.Claims) {
			c.WithOrg("org_2", "beta", rol, "o:invoices", "read,list", "1")
		}}
	}
	tokens := []tok{v1("org:admin"), v1("admin"), v1("org:org:admin"), v1("org:member"), v1(""), v2("admin"), v2("org:admin"), v2("member"),
		{"no organization", nil}}
	type ask struct{ key, value string }
	asks := []ask{{"role", "admin"}, {"role", "org:admin"}, {"role", "member"}, {"permission", "org:invoices:read"}, {"permission", "org:invoices:list"}}
	var cases []sdkCase
	var rules []*Rule
	for _, tk := range tokens {
		c := fake.SessionClaims("user_o")
		c["iat"] = now.Add(-10 * time.Second).Unix()
		if tk.mod != nil {
			tk.mod(c)
		}
		token := fake.Sign(c)
		for _, a := range asks {
			rule, err := ParseRuleQuery(url.Values{a.key: {a.value}})
			if err != nil {
				t.Fatalf("%s=%s: %v", a.key, a.value, err)
			}
			rules = append(rules, rule)
			cases = append(cases, sdkCase{name: a.key + "=" + a.value + " on " + tk.name, URL: "https://app.example.test/dashboard", Method: "GET",
				Headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + token}}, Has: map[string]any{a.key: a.value}})
		}
	}
	compareHas(t, nodePath, env, cases, rules, []clerk.Reason{ReasonRoleMissing, ReasonPermissionMissing, ReasonNoActiveOrg}, nil)
}

// compareHas decides each case under its rule and checks that we allow
// exactly when the SDK's has() is true for the same token, denying with
// one of denyReasons otherwise; onDenied, when set, checks a denial
// further. Both outcomes must occur, or the cases test nothing.
func compareHas(t *testing.T, nodePath string, env *sdkMachineEnv, cases []sdkCase, rules []*Rule, denyReasons []clerk.Reason, onDenied func(sdkCase, Decision, sdkResult)) {
	t.Helper()
	fake := env.fake
	results := runSDKWith(t, nodePath, map[string]any{"publishableKey": fake.PublishableKey, "secretKey": fake.SecretKey, "apiUrl": fake.URL}, cases)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(env.api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	engine := NewEngine(Config{PublishableKey: env.pk}, v, Options{})
	allowed, denied := 0, 0
	for i, c := range cases {
		r := c.request()
		r.Rule = rules[i]
		d := engine.Decide(context.Background(), r)
		s := results[i]
		if s.Status != "signed-in" || s.Has == nil {
			t.Fatalf("%s: the SDK answered %s %q", c.name, s.Status, s.Reason)
		}
		switch {
		case *s.Has && d.Outcome == Allow:
			allowed++
		case !*s.Has && d.Outcome == Forbidden && slices.Contains(denyReasons, d.Reason):
			denied++
			if onDenied != nil {
				onDenied(c, d, s)
			}
		default:
			t.Errorf("%s: SDK has() = %v, ours %s %q", c.name, *s.Has, d.Outcome, d.Reason)
		}
	}
	if allowed == 0 || denied == 0 {
		t.Fatalf("%d allowed, %d denied: both outcomes must occur", allowed, denied)
	}
	t.Logf("%d rules decided as has() decides them (%d allowed, %d denied)", len(cases), allowed, denied)
}
