//go:build e2e

package integrations

// CLERK_JWT_AUDIENCE and CLERK_JWT_ISSUER through every proxy. They narrow
// which of the instance's tokens are accepted, so they get a service of
// their own: on the shared one they would be a setting every other
// scenario runs under, and the shared table documents the defaults.
//
// The SDK's checks (clerk/audience.go): aud only when the token names one,
// then one of its entries must be listed (token-verification-failed);
// iss always, and it must be listed (token-invalid-issuer).

import (
	"net/http"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

const (
	// listedAudience is one of the two audiences the service accepts.
	listedAudience = "https://api.example.com"
	// fakeIssuer is the iss of the fake Clerk's session tokens: its
	// production Frontend API host (clerktest.Options.FAPIHost).
	fakeIssuer = "https://clerk.example.test"
)

// audienceEnv is the deployment under test: two audiences, one issuer.
var audienceEnv = []string{
	"CLERK_JWT_AUDIENCE=https://reports.example.com," + listedAudience,
	"CLERK_JWT_ISSUER=" + fakeIssuer,
}

// audienceScenarios run on a service started with audienceEnv. Keep them
// in step with integrations/README.md.
var audienceScenarios = []scenario{
	{"aud listed in CLERK_JWT_AUDIENCE (alone or among others): 200 with identity", scenarioAudienceListed},
	{"aud not listed: 401 token-verification-failed", scenarioAudienceNotListed},
	{"no aud: 200, the audience is checked only when the token names one", scenarioAudienceAbsent},
	{"iss not in CLERK_JWT_ISSUER: 401 token-invalid-issuer", scenarioIssuerNotListed},
}

// TestJWTAudienceAndIssuer runs audienceScenarios through NGINX, Traefik,
// Caddy and the Envoy emulators (HTTP and gRPC mode), each with its
// shipped configuration.
func TestJWTAudienceAndIssuer(t *testing.T) {
	runEveryProxy(t, audienceScenarios, audienceEnv...)
}

func scenarioAudienceListed(t *testing.T, p *proxyUnderTest) {
	for _, tc := range []struct {
		name string
		aud  any
	}{
		{"a string", listedAudience},
		{"in a list with an unlisted one", []string{"https://other.example.com", listedAudience}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.svc.claims(clerktest.NewID("user"))
			c["aud"] = tc.aud
			sessionAllowed(t, p, "/dashboard", c)
		})
	}
}

func scenarioAudienceNotListed(t *testing.T, p *proxyUnderTest) {
	for _, tc := range []struct {
		name string
		aud  any
	}{
		{"a string", "https://other.example.com"},
		{"a list of unlisted ones", []string{"https://other.example.com", "urn:example:unlisted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.svc.claims(clerktest.NewID("user"))
			c["aud"] = tc.aud
			r := p.send(t, "GET", "/dashboard", bearer(p.svc.token(c)), "")
			wantRefused(t, p, r, http.StatusUnauthorized, "token-verification-failed")
			wantClientReason(t, p, r, "token-verification-failed")
		})
	}
}

func scenarioAudienceAbsent(t *testing.T, p *proxyUnderTest) {
	c := p.svc.claims(clerktest.NewID("user"))
	if _, ok := c["aud"]; ok {
		t.Fatalf("the fake's session claims carry aud %v; this scenario needs a token without one", c["aud"])
	}
	sessionAllowed(t, p, "/dashboard", c)
}

func scenarioIssuerNotListed(t *testing.T, p *proxyUnderTest) {
	// Signed by the instance's own key: only iss is wrong.
	c := p.svc.claims(clerktest.NewID("user"))
	c["iss"] = "https://clerk.other.example"
	r := p.send(t, "GET", "/dashboard", bearer(p.svc.token(c)), "")
	wantRefused(t, p, r, http.StatusUnauthorized, "token-invalid-issuer")
	wantClientReason(t, p, r, "token-invalid-issuer")
}

// wantClientReason checks that the client got the service's
// X-Clerk-Auth-Reason. Traefik and Caddy pass every header of a denial,
// Envoy the ones in allowed_client_headers; NGINX's error page passes the
// reason in its body only (wantRefused checks that).
func wantClientReason(t *testing.T, p *proxyUnderTest, r result, reason string) {
	t.Helper()
	if p.dialect == dialectAuthRequest {
		return
	}
	if got := r.header.Get("X-Clerk-Auth-Reason"); got != reason {
		t.Errorf("client's X-Clerk-Auth-Reason %q, want %q\n%s", got, reason, r)
	}
}
