package authz

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestAudienceAndIssuerMatchClerkSDK: with CLERK_JWT_AUDIENCE and
// CLERK_JWT_ISSUER set (the SDK's audience and issuer options), session
// tokens, M2M JWTs and OAuth access tokens with every shape of aud and
// iss are decided as @clerk/backend decides them, on a route that
// accepts any token.
func TestAudienceAndIssuerMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	env := newSDKMachineEnv(t, true, false)
	fake := env.fake
	const want, other = "https://api.example.test", "https://other.example.test"
	issuer := fake.SessionClaims("user_a")["iss"].(string)
	now := time.Now()
	session := func(mod func(clerktest.Claims)) string {
		c := fake.SessionClaims("user_a")
		c["iat"] = now.Add(-10 * time.Second).Unix()
		mod(c)
		return fake.Sign(c)
	}
	k := fake.Key()
	machineJWT := func(h clerktest.Header, sub string, aud any) string {
		c := clerktest.Claims{"iss": issuer, "sub": sub, "jti": clerktest.NewID("mt"), "iat": now.Unix(), "nbf": now.Unix() - 5, "exp": now.Add(time.Hour).Unix()}
		if aud != nil {
			c["aud"] = aud
		}
		h["alg"], h["kid"] = "RS256", k.Kid
		return clerktest.SignWith(k, h, c)
	}
	m2m := func(aud any) string {
		return machineJWT(clerktest.Header{"typ": "JWT", "cat": "cl_B7d4PD333AAA"}, "mch_a", aud)
	}
	oauth := func(aud any) string { return machineJWT(clerktest.Header{"typ": "at+jwt"}, "user_o", aud) }
	opaqueOAuth, _ := fake.AddOAuthToken("user_o", "client_o", []string{"profile"}, time.Time{})
	tokens := []struct{ name, tok string }{
		{"session, no aud", session(func(clerktest.Claims) {})},
		{"session, aud expected", session(func(c clerktest.Claims) { c["aud"] = want })},
		{"session, aud other", session(func(c clerktest.Claims) { c["aud"] = other })},
		{"session, aud list with expected", session(func(c clerktest.Claims) { c["aud"] = []string{other, want} })},
		{"session, aud list without", session(func(c clerktest.Claims) { c["aud"] = []string{other} })},
		{"session, aud empty string", session(func(c clerktest.Claims) { c["aud"] = "" })},
		{"session, aud empty list", session(func(c clerktest.Claims) { c["aud"] = []string{} })},
		{"session, aud number", session(func(c clerktest.Claims) { c["aud"] = 7 })},
		{"session, aud list with a number", session(func(c clerktest.Claims) { c["aud"] = []any{other, 1} })},
		{"session, other issuer", session(func(c clerktest.Claims) { c["iss"] = "https://clerk.other.test" })},
		{"session, other issuer and aud", session(func(c clerktest.Claims) { c["iss"], c["aud"] = "https://clerk.other.test", other })},
		{"session, no issuer", session(func(c clerktest.Claims) { delete(c, "iss") })},
		{"m2m jwt, no aud", m2m(nil)},
		{"m2m jwt, aud expected", m2m([]string{want})},
		{"m2m jwt, aud other", m2m([]string{other})},
		{"m2m jwt, aud scopes string", m2m("jobs:run")},
		{"oauth jwt, no aud", oauth(nil)},
		{"oauth jwt, aud expected", oauth(want)},
		{"oauth jwt, aud other", oauth(other)},
		{"oauth jwt, aud list with an empty one", oauth([]string{"", want})},
		{"oauth opaque, no aud in the answer", opaqueOAuth},
	}
	var cases []sdkCase
	for _, tk := range tokens {
		cases = append(cases, sdkCase{name: tk.name, URL: "https://app.example.test/dashboard", Method: "GET",
			Headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + tk.tok}}, AcceptsToken: "any"})
	}
	results := runSDKWith(t, nodePath, map[string]any{
		"publishableKey": fake.PublishableKey, "secretKey": fake.SecretKey, "apiUrl": fake.URL,
		"audience": []string{want}, "issuer": []string{issuer},
	}, cases)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(env.api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Audience: []string{want}, Issuers: []string{issuer}})
	lookup, err := NewMachineLookup(clerk.NewMachineVerifier(env.api, "", v), MachineLookupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	engine := NewEngine(Config{PublishableKey: env.pk}, v, Options{Machines: lookup})
	rule, err := ParseRuleQuery(url.Values{"token": {"any"}})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for i, c := range cases {
		r := c.request()
		r.Rule = rule
		d := engine.Decide(context.Background(), r)
		s := results[i]
		reasons[s.Status+" "+s.Reason] = true
		ours := fmt.Sprintf("%s %s", map[bool]string{true: "signed-in", false: "signed-out"}[d.Outcome == Allow], d.Reason)
		if d.Outcome == Allow {
			ours = "signed-in "
		}
		if ours != s.Status+" "+s.Reason {
			t.Errorf("%s: ours %q (%s), SDK %q", c.name, ours, d.Message, s.Status+" "+s.Reason)
		}
	}
	for _, want := range []string{"signed-in ", "signed-out token-verification-failed", "signed-out token-invalid-issuer"} {
		if !reasons[want] {
			t.Errorf("no case where the SDK answers %q", want)
		}
	}
}
