//go:build e2e

package integrations

// A Clerk satellite domain through every proxy: the service runs with
// CLERK_SATELLITE_DOMAINS naming the public host's parent domain, so
// app.example.com is a satellite whose users sign in on the primary
// (CLERK_SIGN_IN_URL on another host). The fake Clerk serves the
// satellite's Frontend API (clerk.example.com), which links the browser's
// client through the primary's Frontend API, as Clerk's does.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

const (
	satelliteDomain = "example.com" // publicHost's parent
	primarySignIn   = "https://primary.example.net/sign-in"
)

var satelliteEnv = []string{
	"CLERK_SATELLITE_DOMAINS=" + satelliteDomain,
	"CLERK_SIGN_IN_URL=" + primarySignIn,
}

// satelliteScenarios run on a service started with satelliteEnv. Keep
// them in step with integrations/README.md.
var satelliteScenarios = []scenario{
	{"satellite, first visit without cookies: sign-in on the primary, return URL asks to sync", scenarioSatelliteFirstVisit},
	{"satellite sync round trip: handshake via the primary's Frontend API, back with __clerk_synced=true, signed in", scenarioSatelliteSync},
}

// TestSatelliteDomains runs satelliteScenarios through NGINX, Traefik,
// Caddy and the Envoy emulators (HTTP and gRPC mode), each with its
// shipped configuration, with the satellite named by host
// (CLERK_SATELLITE_DOMAINS) and as the whole deployment (CLERK_IS_SATELLITE
// with CLERK_DOMAIN); then the first visit with CLERK_SATELLITE_AUTO_SYNC.
func TestSatelliteDomains(t *testing.T) {
	t.Run("CLERK_SATELLITE_DOMAINS", func(t *testing.T) { runEveryProxy(t, satelliteScenarios, satelliteEnv...) })
	t.Run("CLERK_IS_SATELLITE", func(t *testing.T) {
		runEveryProxy(t, satelliteScenarios, "CLERK_IS_SATELLITE=true", "CLERK_DOMAIN="+satelliteDomain, "CLERK_SIGN_IN_URL="+primarySignIn)
	})
	t.Run("CLERK_SATELLITE_AUTO_SYNC", func(t *testing.T) {
		autoSync := []scenario{{"satellite, first visit without cookies: hand-shakes at once, signed in", scenarioSatelliteAutoSync}}
		runEveryProxy(t, autoSync, append(satelliteEnv, "CLERK_SATELLITE_AUTO_SYNC=true")...)
	})
}

func scenarioSatelliteAutoSync(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	fake.AddSatelliteDomain(satelliteDomain)
	user := clerktest.NewID("user")
	b := newBrowserTrip(p, "clerk."+satelliteDomain, fake.SignInBrowser(user))
	final, seen := b.navigate(t, p, "/dashboard")
	if final != publicOrigin+"/dashboard" {
		t.Errorf("ended on %s", final)
	}
	if got := identityAt(seen.Header)["X-Auth-User-Id"]; len(got) != 1 || got[0] != user {
		t.Errorf("app saw X-Auth-User-Id %q, want %q", got, user)
	}
}

func scenarioSatelliteFirstVisit(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/dashboard?tab=1", browser(), "")
	wantStatus(t, r, http.StatusTemporaryRedirect, http.StatusFound, http.StatusSeeOther)
	wantAppUntouched(t, r)
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), primarySignIn+"?") {
		t.Fatalf("Location %q, want the primary's sign-in page\n%s", r.header.Get("Location"), r)
	}
	if got, want := loc.Query().Get("redirect_url"), publicOrigin+"/dashboard?tab=1&__clerk_synced=false"; got != want {
		t.Errorf("return URL %q, want %q", got, want)
	}
}

func scenarioSatelliteSync(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	fake.AddSatelliteDomain(satelliteDomain)
	user := clerktest.NewID("user")
	// Signed in on the primary: the fake's __client cookie, which only
	// the primary's Frontend API reads.
	b := newBrowserTrip(p, "clerk."+satelliteDomain, fake.SignInBrowser(user))
	syncsBefore := fake.Calls(clerktest.RouteSync)
	// The primary's sign-in page, the user already signed in there, sends
	// the browser back to the return URL the satellite asked for.
	final, seen := b.navigate(t, p, "/dashboard?tab=1&__clerk_synced=false")
	if want := publicOrigin + "/dashboard?tab=1&__clerk_synced=true"; final != want {
		t.Errorf("ended on %s, want %s", final, want)
	}
	if fake.Calls(clerktest.RouteSync) == syncsBefore {
		t.Errorf("the satellite's handshake never went through the primary\n  %s", b.hops())
	}
	reasons := []string{}
	for _, q := range fake.HandshakeRequests() {
		reasons = append(reasons, q.Get("__clerk_hs_reason"))
	}
	if !slices.Contains(reasons, "satellite-needs-syncing") {
		t.Errorf("handshake reasons %q, want satellite-needs-syncing", reasons)
	}
	if got := identityAt(seen.Header)["X-Auth-User-Id"]; len(got) != 1 || got[0] != user {
		t.Errorf("app saw X-Auth-User-Id %q, want %q", got, user)
	}
}

// clerkProxyPath is where an app that proxies Clerk's Frontend API serves
// it; hostRouter forwards it to the fake.
const clerkProxyPath = "/__clerk"

// TestRelativeProxyURL: with CLERK_PROXY_URL=/__clerk the handshake goes
// to the Frontend API under the request's own public origin, which the
// service learns from each proxy's forwarded headers.
func TestRelativeProxyURL(t *testing.T) {
	table := []scenario{{"handshake round trip through " + clerkProxyPath + " on the public origin", scenarioHandshakeViaRelativeProxy}}
	env := []string{"CLERK_PROXY_URL=" + clerkProxyPath}
	runEveryProxy(t, table, env...)
}

func scenarioHandshakeViaRelativeProxy(t *testing.T, p *proxyUnderTest) {
	b := handshakeRoundTrip(t, p)
	if !strings.Contains("\n  "+b.hops(), "\n  GET "+publicOrigin+clerkProxyPath+"/v1/client/handshake?") {
		t.Errorf("no handshake under %s%s:\n  %s", publicOrigin, clerkProxyPath, b.hops())
	}
}
