package authz

import (
	"context"
	"net/url"
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
					Headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + token}}, Has: map[string]string{kind: want}})
			}
		}
	}
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
		case !*s.Has && d.Outcome == Forbidden && (d.Reason == ReasonFeatureMissing || d.Reason == ReasonPlanMissing):
			denied++
		default:
			t.Errorf("%s: SDK has() = %v, ours %s %q", c.name, *s.Has, d.Outcome, d.Reason)
		}
	}
	if allowed == 0 || denied == 0 {
		t.Fatalf("%d allowed, %d denied: both outcomes must occur", allowed, denied)
	}
	t.Logf("%d rules decided as has() decides them (%d allowed, %d denied)", len(cases), allowed, denied)
}
