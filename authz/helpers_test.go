package authz

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// testEnv is an engine wired to a fake Clerk instance.
type testEnv struct {
	fake   *clerktest.Server
	engine *Engine
	suffix string
}

// newFakeClerk starts a fake Clerk (closed when the test ends) and a
// Backend API client for it. Tests in package authz cannot use
// authz/authztest (it imports authz), hence this local twin.
func newFakeClerk(t testing.TB, o clerktest.Options) (*clerktest.Server, clerk.PublishableKey, *clerk.API) {
	t.Helper()
	fake := clerktest.Start(t, o)
	pk, err := clerk.ParsePublishableKey(fake.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	api, err := clerk.NewAPI(fake.URL, "v1", fake.SecretKey, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return fake, pk, api
}

func newTestEnv(t *testing.T, production bool, mod func(*Config, *clerk.VerifyOptions)) *testEnv {
	t.Helper()
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: production})
	cfg := Config{PublishableKey: pk}
	vopts := clerk.VerifyOptions{}
	if mod != nil {
		mod(&cfg, &vopts)
	}
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), vopts)
	return &testEnv{fake: fake, engine: NewEngine(cfg, v, Options{}), suffix: clerk.CookieSuffix(fake.PublishableKey)}
}

// req builds a request for https://app.example.test/dashboard.
func req(method string, headers ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	u, _ := url.Parse("https://app.example.test/dashboard?tab=1")
	return &Request{Method: method, URL: u, Header: h}
}

// browser adds what a browser sends on a top-level navigation.
func browser(r *Request) *Request {
	r.Header.Set("Sec-Fetch-Dest", "document")
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	return r
}

func (e *testEnv) decide(r *Request) Decision {
	return e.engine.Decide(context.Background(), r)
}

func (e *testEnv) token(mod func(clerktest.Claims)) string {
	c := e.fake.SessionClaims("user_1")
	if mod != nil {
		mod(c)
	}
	return e.fake.Sign(c)
}
