package authz_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// benchEngine is an engine over a fake instance's key (no network), with
// the default token cache.
type benchEngine struct {
	fake   *clerktest.Server
	engine *authz.Engine
	suffix string
}

func newBenchEngine(b testing.TB, cacheSize int) *benchEngine {
	b.Helper()
	env := authztest.New(b, authztest.Options{
		Fake:       clerktest.Options{Production: true},
		StaticKeys: true,
		Verify:     clerk.VerifyOptions{TokenCacheSize: cacheSize},
		Setup: func(e *authztest.Env, _ *authz.Config, o *authz.Options) {
			machines, err := authz.NewMachineLookup(clerk.NewMachineVerifier(e.API, "", e.Verifier), authz.MachineLookupOptions{})
			if err != nil {
				b.Fatal(err)
			}
			o.Machines = machines
			// A deny list with an entry, as after a session webhook: the
			// check runs on every signed-in decision.
			deny := authz.NewSessionDenyList(0, 0, nil)
			deny.Add("sess_someone_else")
			o.Revoked = deny
		},
	})
	return &benchEngine{fake: env.Fake, engine: env.Engine, suffix: env.Suffix}
}

func (e *benchEngine) token(user string) string {
	c := e.fake.SessionClaims(user)
	c["exp"] = time.Now().Add(time.Hour).Unix()
	c.WithOrg("org_2benchacmeorganization00001", "acme", "admin", "o:invoices,o:reports,u:profile", "read,manage", "3,1")
	return e.fake.Sign(c)
}

func benchRequest(rule *authz.Rule, headers ...string) *authz.Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	u, _ := url.Parse("https://app.example.test/dashboard")
	return &authz.Request{Method: "GET", URL: u, Header: h, Rule: rule}
}

// withQuery gives r's URL a query string.
func withQuery(r *authz.Request, rawQuery string) *authz.Request {
	r.URL.RawQuery = rawQuery
	return r
}

func (e *benchEngine) run(b *testing.B, want authz.Outcome, next func(i int) *authz.Request) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := e.engine.Decide(ctx, next(i))
		i++
		if d.Outcome != want {
			b.Fatalf("outcome %s (%s: %s), want %s", d.Outcome, d.Reason, d.Message, want)
		}
	}
}

// BenchmarkDecide is the decision path from a parsed request to a
// Decision: token extraction, verification (token cache on), policy.
func BenchmarkDecide(b *testing.B) {
	e := newBenchEngine(b, 50000)
	token := e.token("user_1")
	iat := fmt.Sprint(time.Now().Unix() - 60)
	orgRule, err := authz.ParseRuleQuery(url.Values{"org": {"acme"}, "role": {"org:admin"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bearer repeated", func(b *testing.B) {
		r := benchRequest(nil, "Authorization", "Bearer "+token)
		e.run(b, authz.Allow, func(int) *authz.Request { return r })
	})
	b.Run("cookie suffixed repeated", func(b *testing.B) {
		cookie := "_ga=GA1.2.3.4; __client_uat=" + iat + "; __client_uat_" + e.suffix + "=" + iat +
			"; __session=" + token + "; __session_" + e.suffix + "=" + token + "; theme=dark"
		r := benchRequest(nil, "Cookie", cookie)
		e.run(b, authz.Allow, func(int) *authz.Request { return r })
	})
	b.Run("org rule repeated", func(b *testing.B) {
		r := benchRequest(orgRule, "Authorization", "Bearer "+token)
		e.run(b, authz.Allow, func(int) *authz.Request { return r })
	})
	b.Run("api key repeated", func(b *testing.B) {
		key, _ := e.fake.AddAPIKey(clerktest.APIKey{Subject: "user_1", Scopes: []string{"reports:read"}})
		rule, err := authz.ParseRuleQuery(url.Values{"token": {"api_key"}})
		if err != nil {
			b.Fatal(err)
		}
		r := benchRequest(rule, "Authorization", "Bearer "+key)
		e.run(b, authz.Allow, func(int) *authz.Request { return r })
	})
	b.Run("session on a route for any token", func(b *testing.B) {
		rule, err := authz.ParseRuleQuery(url.Values{"token": {"any"}})
		if err != nil {
			b.Fatal(err)
		}
		r := benchRequest(rule, "Authorization", "Bearer "+token)
		e.run(b, authz.Allow, func(int) *authz.Request { return r })
	})
	b.Run("garbage", func(b *testing.B) {
		r := benchRequest(nil, "Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln")
		e.run(b, authz.Unauthenticated, func(int) *authz.Request { return r })
	})
	b.Run("bad signature", func(b *testing.B) {
		forged := token[:strings.LastIndexByte(token, '.')+1] + strings.Repeat("A", 342)
		r := benchRequest(nil, "Authorization", "Bearer "+forged)
		e.run(b, authz.Unauthenticated, func(int) *authz.Request { return r })
	})
	b.Run("never-seen", func(b *testing.B) {
		// Distinct strings of valid tokens ("=" padding on the signature,
		// which base64url decoding drops), 32,000 of them through a
		// 1,000-entry cache: every one is a miss and an RSA verification.
		small := newBenchEngine(b, 1000)
		bases := make([]string, 64)
		for i := range bases {
			bases[i] = small.token(fmt.Sprintf("user_%d", i))
		}
		r := benchRequest(nil)
		small.run(b, authz.Allow, func(i int) *authz.Request {
			r.Header.Set("Authorization", "Bearer "+bases[i%len(bases)]+strings.Repeat("=", 1+i/len(bases)%500))
			return r
		})
	})
}

// TestDecideCachedAPIKeyAllocatesNothing: an API key Clerk answered on
// within the TTL costs a hash and a cache lookup, like a session token.
func TestDecideCachedAPIKeyAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	e := newBenchEngine(t, 1000)
	key, _ := e.fake.AddAPIKey(clerktest.APIKey{Subject: "user_1"})
	rule, err := authz.ParseRuleQuery(url.Values{"token": {"api_key"}})
	if err != nil {
		t.Fatal(err)
	}
	r := benchRequest(rule, "Authorization", "Bearer "+key)
	ctx := context.Background()
	if d := e.engine.Decide(ctx, r); d.Outcome != authz.Allow || d.Identity.UserID != "user_1" {
		t.Fatalf("first decision %+v, want an allow for user_1", d)
	}
	if n := testing.AllocsPerRun(100, func() { e.engine.Decide(ctx, r) }); n != 0 {
		t.Fatalf("a cached API key costs %v allocations, want 0", n)
	}
}

// TestDecideRepeatedTokenAllocatesNothing pins what the hot path is built
// for: a token the cache holds is decided without one allocation (a
// session deny list with an entry included), by header, by suffixed
// cookies, and under an organization rule answered from the token (the cached Session, organization included, is shared, not copied).
func TestDecideRepeatedTokenAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	e := newBenchEngine(t, 1000)
	token := e.token("user_1")
	iat := fmt.Sprint(time.Now().Unix() - 60)
	orgRule, err := authz.ParseRuleQuery(url.Values{"org": {"acme"}, "role": {"org:admin"}})
	if err != nil {
		t.Fatal(err)
	}
	cookie := "__client_uat=" + iat + "; __client_uat_" + e.suffix + "=" + iat +
		"; __session=" + token + "; __session_" + e.suffix + "=" + token
	for _, tt := range []struct {
		name string
		r    *authz.Request
	}{
		{"bearer", benchRequest(nil, "Authorization", "Bearer "+token)},
		{"suffixed cookies", benchRequest(nil, "Cookie", cookie)},
		{"org rule from the token", benchRequest(orgRule, "Authorization", "Bearer "+token)},
		{"a URL with a query string", withQuery(benchRequest(nil, "Authorization", "Bearer "+token), "tab=1&q=shoes")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if d := e.engine.Decide(ctx, tt.r); d.Outcome != authz.Allow || d.Identity.OrgRole != "org:admin" {
				t.Fatalf("first decision %+v, want an allow with the organization", d)
			}
			if n := testing.AllocsPerRun(100, func() { e.engine.Decide(ctx, tt.r) }); n != 0 {
				t.Fatalf("a repeated token costs %v allocations, want 0", n)
			}
		})
	}
}
