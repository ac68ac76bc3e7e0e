//go:build e2e

package integrations

// A Clerk satellite domain through every proxy: the service runs with
// CLERK_SATELLITE_DOMAINS naming the public host's parent domain, so
// app.example.com is a satellite whose users sign in on the primary
// (CLERK_SIGN_IN_URL on another host). The fake Clerk serves the
// satellite's Frontend API (clerk.example.com), which links the browser's
// client through the primary's Frontend API, as Clerk's does.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
// Caddy and the Envoy emulator, each with its shipped configuration.
func TestSatelliteDomains(t *testing.T) {
	for _, px := range []struct {
		name, dialect string
		launcher      func(*testing.T) launchFunc
	}{
		{"nginx", dialectAuthRequest, nginxLauncher},
		{"traefik", dialectForwardAuth, traefikLauncher},
		{"caddy", dialectForwardAuth, caddyLauncher},
	} {
		t.Run(px.name, func(t *testing.T) {
			runProxyScenarios(t, px.name, px.dialect, px.launcher(t), satelliteScenarios, satelliteEnv...)
		})
	}
	t.Run("envoy", func(t *testing.T) {
		runEnvoyScenarios(t, satelliteScenarios, satelliteEnv...)
	})
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
	jar := &sharedJar{cookies: map[string]*http.Cookie{}}
	origin, _ := url.Parse(publicOrigin)
	jar.SetCookies(origin, []*http.Cookie{fake.SignInBrowser(user)})
	u, _ := url.Parse(p.base)
	fu, _ := url.Parse(fake.URL)
	router := &hostRouter{proxyAddr: u.Host, fapiHost: fake.FAPIHost, fakeAddr: fu.Host, satelliteFAPI: "clerk." + satelliteDomain}
	c := &http.Client{Jar: jar, Transport: router, Timeout: 15 * time.Second,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return fmt.Errorf("redirect loop")
			}
			return nil
		}}
	syncsBefore := fake.Calls(clerktest.RouteSync)
	// The primary's sign-in page, the user already signed in there, sends
	// the browser back to the return URL the satellite asked for.
	id := newTestID()
	req, _ := http.NewRequest("GET", publicOrigin+"/dashboard?tab=1&__clerk_synced=false", nil)
	for k, v := range browser() {
		req.Header[k] = v
	}
	req.Header.Set(testIDHeader, id)
	res, err := c.Do(req)
	hops := func() string { router.mu.Lock(); defer router.mu.Unlock(); return strings.Join(router.hops, "\n  ") }
	if err != nil {
		t.Fatalf("sync round trip: %v\n  %s", err, hops())
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Upstream") != "app" {
		t.Fatalf("ended with %d %q, want 200 from the app\n  %s", res.StatusCode, body, hops())
	}
	if got, want := res.Request.URL.String(), publicOrigin+"/dashboard?tab=1&__clerk_synced=true"; got != want {
		t.Errorf("ended on %s, want %s", got, want)
	}
	if fake.Calls(clerktest.RouteSync) == syncsBefore {
		t.Errorf("the satellite's handshake never went through the primary\n  %s", hops())
	}
	reasons := []string{}
	for _, q := range fake.HandshakeRequests() {
		reasons = append(reasons, q.Get("__clerk_hs_reason"))
	}
	if !strings.Contains(strings.Join(reasons, ","), "satellite-needs-syncing") {
		t.Errorf("handshake reasons %q, want satellite-needs-syncing", reasons)
	}
	seen := p.app.byID(id)
	if len(seen) != 1 {
		t.Fatalf("app saw %d requests, want 1\n  %s", len(seen), hops())
	}
	if got := identityAt(seen[0].Header)["X-Auth-User-Id"]; len(got) != 1 || got[0] != user {
		t.Errorf("app saw X-Auth-User-Id %q, want %q", got, user)
	}
	t.Logf("hops:\n  %s", hops())
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
	for _, px := range []struct {
		name, dialect string
		launcher      func(*testing.T) launchFunc
	}{
		{"nginx", dialectAuthRequest, nginxLauncher},
		{"traefik", dialectForwardAuth, traefikLauncher},
		{"caddy", dialectForwardAuth, caddyLauncher},
	} {
		t.Run(px.name, func(t *testing.T) {
			runProxyScenarios(t, px.name, px.dialect, px.launcher(t), table, env...)
		})
	}
	t.Run("envoy", func(t *testing.T) { runEnvoyScenarios(t, table, env...) })
}

func scenarioHandshakeViaRelativeProxy(t *testing.T, p *proxyUnderTest) {
	router := handshakeRoundTrip(t, p)
	router.mu.Lock()
	defer router.mu.Unlock()
	for _, h := range router.hops {
		if strings.HasPrefix(h, "GET "+publicOrigin+clerkProxyPath+"/v1/client/handshake?") {
			return
		}
	}
	t.Errorf("no handshake under %s%s:\n  %s", publicOrigin, clerkProxyPath, strings.Join(router.hops, "\n  "))
}
