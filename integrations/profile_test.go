//go:build e2e

package integrations

import (
	"net/http"
	"slices"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// profileHeaders are the identity headers USER_PROFILE_HEADERS=true adds.
var profileHeaders = []string{"X-Auth-User-Email", "X-Auth-User-Name"}

// TestProfileHeadersOnlyFromTheService: with USER_PROFILE_HEADERS=true the
// app gets X-Auth-User-Email and X-Auth-User-Name from the service's
// answer, through every shipped configuration, and never a client's copy:
// the app trusts them as it trusts X-Auth-User-Id.
func TestProfileHeadersOnlyFromTheService(t *testing.T) {
	runEveryProxy(t, []scenario{
		{"signed in, client-sent profile headers: the app sees the user's", scenarioProfileSignedIn},
		{"anonymous on a public route, client-sent profile headers: the app sees none", scenarioProfileAnonymous},
	}, "USER_PROFILE_HEADERS=true")
}

// forgedProfile is a client claiming someone else's profile.
func forgedProfile(kv ...string) http.Header {
	return hdr(append([]string{"X-Auth-User-Email", "ceo@example.com", "X-Auth-User-Name", "The CEO", "Accept", "application/json"}, kv...)...)
}

func scenarioProfileSignedIn(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	p.svc.Fake.AddUser(user, "ada@example.com", "Ada", "Lovelace")
	r := p.send(t, "GET", "/dashboard", forgedProfile("Authorization", "Bearer "+p.svc.token(p.svc.claims(user))), "")
	wantStatus(t, r, http.StatusOK)
	wantProfile(t, r, map[string]string{"X-Auth-User-Email": "ada@example.com", "X-Auth-User-Name": "Ada Lovelace"})
}

func scenarioProfileAnonymous(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/public/page", forgedProfile(), "")
	wantStatus(t, r, http.StatusOK)
	wantProfile(t, r, nil)
}

// wantProfile checks that the app saw exactly want's non-empty values of
// the profile headers, and nothing (or empty) for the others.
func wantProfile(t *testing.T, r result, want map[string]string) {
	t.Helper()
	if len(r.app) != 1 {
		t.Fatalf("app saw %d requests, want 1\n%s", len(r.app), r)
	}
	for _, name := range profileHeaders {
		var got []string
		for _, v := range r.app[0].Header.Values(name) {
			if v != "" {
				got = append(got, v)
			}
		}
		var exp []string
		if w := want[name]; w != "" {
			exp = []string{w}
		}
		if !slices.Equal(got, exp) {
			t.Errorf("app saw %s = %q, want %q\napp headers: %v", name, got, exp, r.app[0].Header)
		}
	}
}
