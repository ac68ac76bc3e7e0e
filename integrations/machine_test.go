//go:build e2e

package integrations

// Machine credentials through every proxy: API keys, M2M tokens (opaque and
// JWT) on the routes whose rule accepts them, as the configs under
// integrations/ set them up:
//
//	/jobs/     token=api_key,m2m_token
//	/reports/  token=api_key&scope=reports:read
//
// The fake Clerk's Backend API verifies the opaque ones; machine JWTs are
// verified by the service with the instance's keys.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// wantRefused checks a refusal: the client's status, the app untouched,
// and the service's reason, both in its own answer (seen by the tap: the
// JSON body, and X-Clerk-Auth-Reason on a 401) and in the body the client
// got (each proxy passes or rebuilds our JSON).
func wantRefused(t *testing.T, p *proxyUnderTest, r result, status int, reason string) {
	t.Helper()
	wantStatus(t, r, status)
	wantAppUntouched(t, r)
	if len(r.auth) != 1 {
		t.Fatalf("service asked %d times, want 1\n%s", len(r.auth), r)
	}
	a := r.auth[0]
	want := `"reason":"` + reason + `"`
	if a.Status != status || !strings.Contains(a.RespBody, want) {
		t.Errorf("service answered %d %q, want %d with %s\n%s", a.Status, a.RespBody, status, want, r)
	}
	if got := a.RespHeader.Get("X-Clerk-Auth-Reason"); got != reason {
		t.Errorf("service's X-Clerk-Auth-Reason %q, want %q\n%s", got, reason, r)
	}
	if !strings.Contains(r.body, want) {
		t.Errorf("client body %q lacks %s", r.body, want)
	}
}

// machineAllowed sends tok as a Bearer token to target and checks the app
// saw exactly want.
func machineAllowed(t *testing.T, p *proxyUnderTest, target, tok string, want map[string]string) {
	t.Helper()
	r := p.send(t, "GET", target, bearer(tok), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, want)
}

func scenarioMachineAllowed(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	t.Run("user's API key", func(t *testing.T) {
		user := clerktest.NewID("user")
		key, id := fake.AddAPIKey(clerktest.APIKey{Subject: user, Name: "ci", Scopes: []string{"reports:read", "jobs:run"}})
		machineAllowed(t, p, "/jobs/nightly", key, map[string]string{
			"X-Auth-Token-Type": "api_key", "X-Auth-User-Id": user, "X-Auth-Token-Id": id, "X-Auth-Scopes": "reports:read,jobs:run",
		})
		// And on the route that wants API keys with reports:read.
		machineAllowed(t, p, "/reports/q3", key, map[string]string{
			"X-Auth-Token-Type": "api_key", "X-Auth-User-Id": user, "X-Auth-Token-Id": id, "X-Auth-Scopes": "reports:read,jobs:run",
		})
	})
	t.Run("organization's API key", func(t *testing.T) {
		org := clerktest.NewID("org")
		key, id := fake.AddAPIKey(clerktest.APIKey{Subject: org, Name: "billing", Scopes: []string{"reports:read"}})
		machineAllowed(t, p, "/reports/q3", key, map[string]string{
			"X-Auth-Token-Type": "api_key", "X-Auth-Org-Id": org, "X-Auth-Token-Id": id, "X-Auth-Scopes": "reports:read",
		})
	})
	t.Run("machine's API key", func(t *testing.T) {
		machine := clerktest.NewID("mch")
		key, id := fake.AddAPIKey(clerktest.APIKey{Subject: machine, Name: "worker"})
		machineAllowed(t, p, "/jobs/nightly", key, map[string]string{
			"X-Auth-Token-Type": "api_key", "X-Auth-Machine-Id": machine, "X-Auth-Token-Id": id,
		})
	})
	t.Run("opaque M2M token", func(t *testing.T) {
		machine := clerktest.NewID("mch")
		tok, id := fake.AddM2MToken(machine, []string{"jobs:run", "jobs:read"}, time.Now().Add(time.Hour))
		machineAllowed(t, p, "/jobs/nightly", tok, map[string]string{
			"X-Auth-Token-Type": "m2m_token", "X-Auth-Machine-Id": machine, "X-Auth-Token-Id": id, "X-Auth-Scopes": "jobs:run,jobs:read",
		})
	})
	t.Run("M2M JWT", func(t *testing.T) {
		machine := clerktest.NewID("mch")
		tok, id := fake.SignM2MJWT(machine, []string{"jobs:run"}, time.Minute)
		machineAllowed(t, p, "/jobs/nightly", tok, map[string]string{
			"X-Auth-Token-Type": "m2m_token", "X-Auth-Machine-Id": machine, "X-Auth-Token-Id": id, "X-Auth-Scopes": "jobs:run",
		})
	})
}

func scenarioMachineTypeMismatch(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	machine := clerktest.NewID("mch")
	m2m, _ := fake.AddM2MToken(machine, []string{"reports:read"}, time.Time{})
	m2mJWT, _ := fake.SignM2MJWT(machine, []string{"reports:read"}, time.Minute)
	key, _ := fake.AddAPIKey(clerktest.APIKey{Subject: clerktest.NewID("user"), Scopes: []string{"reports:read"}})
	session := p.svc.token(p.svc.claims(clerktest.NewID("user")))
	uat := fmt.Sprintf("__client_uat=%d", time.Now().Unix()-30)
	for _, tc := range []struct {
		name, target string
		h            http.Header
	}{
		{"opaque M2M token on an API-key route", "/reports/q3", bearer(m2m)},
		{"M2M JWT on an API-key route", "/reports/q3", bearer(m2mJWT)},
		{"session token (Bearer) on a machine route", "/jobs/nightly", bearer(session)},
		{"session cookie on a machine route", "/jobs/nightly", hdr("Cookie", uat+"; __session="+session, "Accept", "application/json")},
		// The SDK reads machine credentials from the Authorization header
		// only: in a cookie it is no credential of an accepted type.
		{"API key in the __session cookie on a machine route", "/jobs/nightly", hdr("Cookie", uat+"; __session="+key, "Accept", "application/json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.send(t, "GET", tc.target, tc.h, "")
			wantRefused(t, p, r, http.StatusUnauthorized, "token-type-mismatch")
		})
	}
	t.Run("browser navigation on a machine route: 401, no sign-in redirect", func(t *testing.T) {
		r := p.send(t, "GET", "/jobs/nightly", browser(), "")
		wantRefused(t, p, r, http.StatusUnauthorized, "token-type-mismatch")
		if loc := r.header.Get("Location"); loc != "" {
			t.Errorf("Location %q: a machine route must not send a browser to sign-in", loc)
		}
	})
}

func scenarioMachineScopeMissing(t *testing.T, p *proxyUnderTest) {
	key, _ := p.svc.Fake.AddAPIKey(clerktest.APIKey{Subject: clerktest.NewID("user"), Scopes: []string{"reports:write"}})
	r := p.send(t, "GET", "/reports/q3", bearer(key), "")
	wantRefused(t, p, r, http.StatusForbidden, "scope-missing")
}

func scenarioMachineRevoked(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	t.Run("revoked before first use", func(t *testing.T) {
		key, id := fake.AddAPIKey(clerktest.APIKey{Subject: clerktest.NewID("user")})
		fake.RevokeAPIKey(id)
		r := p.send(t, "GET", "/jobs/nightly", bearer(key), "")
		wantRefused(t, p, r, http.StatusUnauthorized, "token-invalid")
	})
	t.Run("revoked after use: refused once the cache TTL has passed", func(t *testing.T) {
		user := clerktest.NewID("user")
		key, id := fake.AddAPIKey(clerktest.APIKey{Subject: user})
		machineAllowed(t, p, "/jobs/nightly", key, map[string]string{"X-Auth-Token-Type": "api_key", "X-Auth-User-Id": user, "X-Auth-Token-Id": id})
		fake.RevokeAPIKey(id)
		revoked := time.Now()
		var last result
		err := waitFor(5*time.Second, func() error {
			last = p.send(t, "GET", "/jobs/nightly", bearer(key), "")
			if last.status == http.StatusOK {
				return errors.New("still allowed")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("revoked API key %v after revocation (MACHINE_TOKEN_CACHE_TTL=300ms): %v\n%s", time.Since(revoked), err, last)
		}
		wantRefused(t, p, last, http.StatusUnauthorized, "token-invalid")
		t.Logf("refused %v after revocation", time.Since(revoked).Round(time.Millisecond))
	})
}

func scenarioMachineSpoof(t *testing.T, p *proxyUnderTest) {
	machine := clerktest.NewID("mch")
	tok, id := p.svc.Fake.AddM2MToken(machine, []string{"jobs:run"}, time.Time{})
	// spoofed sets every identity header, the machine ones included; add
	// a user, a session and look-alikes a framework may read as the same.
	h := spoofed("Authorization", "Bearer "+tok, "Accept", "application/json")
	h["X-Auth-Token-Type"] = []string{"session_token"}
	h["X-Auth-Session-Id"] = []string{"sess_forged"}
	h["X_Auth_Machine_Id"] = []string{"mch_forged"}
	h["X-Auth_Scopes"] = []string{"admin:all"}
	r := p.send(t, "GET", "/jobs/nightly", h, "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{
		"X-Auth-Token-Type": "m2m_token", "X-Auth-Machine-Id": machine, "X-Auth-Token-Id": id, "X-Auth-Scopes": "jobs:run",
	})
}
