//go:build e2e

package integrations

// Per-route rules on the session token's own claims, through every proxy,
// as the configs under integrations/ set them up:
//
//	/billing/  reverification=strict          (the fva claim)
//	/export/   feature=export&plan=o:team     (Clerk Billing: fea, pla)
//
// A reverification that does not hold is Clerk's reverification error, the
// body its frontend (useReverification) recognises: the client must get it
// byte for byte, NGINX included (its @clerk_forbidden page rebuilds it from
// X-Clerk-Reverification, as it cannot pass the subrequest's body).

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// strictReverificationBody is what Clerk's backend answers when
// has({ reverification: "strict" }) fails, and what Clerk's frontend
// recognises.
const strictReverificationBody = `{"clerk_error":{"type":"forbidden","reason":"reverification-error","metadata":{"reverification":"strict"}}}` + "\n"

// sessionAllowed sends a session token as a Bearer token to target and
// checks the app saw exactly that session's identity.
func sessionAllowed(t *testing.T, p *proxyUnderTest, target string, c clerktest.Claims) {
	t.Helper()
	r := p.send(t, "GET", target, bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": c["sub"].(string), "X-Auth-Session-Id": c["sid"].(string)})
}

func scenarioReverificationFresh(t *testing.T, p *proxyUnderTest) {
	// strict: a second factor within 10 minutes, or, with none ever set
	// (-1), the first factor within 10 minutes.
	c := p.svc.claims(clerktest.NewID("user"))
	c["fva"] = []int{5, -1}
	sessionAllowed(t, p, "/billing/invoices", c)
	c = p.svc.claims(clerktest.NewID("user"))
	c["fva"] = []int{30, 2}
	sessionAllowed(t, p, "/billing/invoices", c)
}

func scenarioReverificationStale(t *testing.T, p *proxyUnderTest) {
	for _, tc := range []struct {
		name string
		fva  []int
	}{
		{"first factor 30 minutes ago, no second factor", []int{30, -1}},
		{"second factor 30 minutes ago", []int{1, 30}},
		{"never verified", []int{-1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.svc.claims(clerktest.NewID("user"))
			c["fva"] = tc.fva
			r := p.send(t, "GET", "/billing/invoices", bearer(p.svc.token(c)), "")
			wantStatus(t, r, http.StatusForbidden)
			wantAppUntouched(t, r)
			if len(r.auth) != 1 {
				t.Fatalf("service asked %d times, want 1\n%s", len(r.auth), r)
			}
			a := r.auth[0]
			if a.Status != http.StatusForbidden || a.RespBody != strictReverificationBody {
				t.Errorf("service answered %d %q, want 403 %q\n%s", a.Status, a.RespBody, strictReverificationBody, r)
			}
			if got := a.RespHeader.Get("X-Clerk-Auth-Reason"); got != "reverification-required" {
				t.Errorf("service's X-Clerk-Auth-Reason %q, want reverification-required\n%s", got, r)
			}
			if got := a.RespHeader.Get("X-Clerk-Reverification"); got != `"strict"` {
				t.Errorf("service's X-Clerk-Reverification %q, want %q\n%s", got, `"strict"`, r)
			}
			if r.body != strictReverificationBody {
				t.Errorf("client body %q, want exactly %q\n%s", r.body, strictReverificationBody, r)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("client Content-Type %q, want application/json\n%s", ct, r)
			}
		})
	}
}

// billingClaims is a session whose token carries fea and pla ("" leaves
// the claim out).
func billingClaims(p *proxyUnderTest, fea, pla string) clerktest.Claims {
	c := p.svc.claims(clerktest.NewID("user"))
	if fea != "" {
		c["fea"] = fea
	}
	if pla != "" {
		c["pla"] = pla
	}
	return c
}

func scenarioBillingAllowed(t *testing.T, p *proxyUnderTest) {
	sessionAllowed(t, p, "/export/csv", billingClaims(p, "o:export", "o:team"))
	// Among other entitlements, and the user's as well as the organization's.
	sessionAllowed(t, p, "/export/csv", billingClaims(p, "u:premium,ou:export", "u:pro,o:team"))
}

func scenarioBillingMissing(t *testing.T, p *proxyUnderTest) {
	for _, tc := range []struct {
		name, fea, pla, reason string
	}{
		{"no fea claim", "", "o:team", "feature-missing"},
		{"another feature", "o:sso,u:premium", "o:team", "feature-missing"},
		{"the feature, no pla claim", "o:export", "", "plan-missing"},
		{"the feature, the user's plan team (not the organization's)", "o:export", "u:team", "plan-missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.send(t, "GET", "/export/csv", bearer(p.svc.token(billingClaims(p, tc.fea, tc.pla))), "")
			wantRefused(t, p, r, http.StatusForbidden, tc.reason)
		})
	}
}
