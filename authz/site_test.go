package authz

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestSiteOfPicksTheSatelliteByHost(t *testing.T) {
	e := newHSEnv(t, true, func(c *Config) {
		c.SatelliteDomains = []string{"example.org", "b.example.org", "Other.Test."}
	})
	for _, tt := range []struct {
		host, domain string // domain "" = the primary
	}{
		{"example.org", "example.org"},
		{"app.example.org", "example.org"},
		{"x.b.example.org", "b.example.org"}, // the longest domain wins
		{"b.example.org", "b.example.org"},
		{"APP.other.test.", "other.test"},
		{"evil-example.org", ""},
		{"example.org.evil.test", ""},
		{"app.example.test", ""},
	} {
		s := e.engine.siteOf(e.nav("https://" + tt.host + "/p"))
		if s.domain != tt.domain || s.satellite != (tt.domain != "") {
			t.Errorf("%s: site %+v, want domain %q", tt.host, *s, tt.domain)
		}
		if tt.domain != "" && s.fapiHost != "clerk."+tt.domain {
			t.Errorf("%s: Frontend API %q, want clerk.%s", tt.host, s.fapiHost, tt.domain)
		}
	}
}

// A production satellite's session cookies are issued by its own Frontend
// API: a token naming the primary's is another instance's (the suffixed
// family wins), one naming clerk.<domain> is the satellite's.
func TestProductionSatelliteComparesTheIssuerWithItsOwnFrontendAPI(t *testing.T) {
	e := newHSEnv(t, true, func(c *Config) { c.IsSatellite, c.Domain = true, "example.org" })
	primaryToken := e.session(nil)
	satToken := e.session(func(c clerktest.Claims) { c["iss"] = "https://clerk.example.org" })
	for _, tt := range []struct {
		token string
		want  bool
	}{{primaryToken, true}, {satToken, false}} {
		r := e.nav("https://example.org/p", "__session="+tt.token)
		c := e.engine.newAuthContext(r)
		if c.suffixed != tt.want {
			t.Errorf("suffixed = %v, want %v", c.suffixed, tt.want)
		}
	}
}

func TestSatelliteSyncRoundTrip(t *testing.T) {
	e := newHSEnv(t, true, func(c *Config) {
		c.SatelliteDomains = []string{"example.org"}
		c.SignInURL = "https://app.example.test/sign-in"
	})
	// 1. A first visit without Clerk cookies: signed out, and the sign-in
	// redirect's return URL asks for a sync.
	d := e.decide(e.nav("https://example.org/p?x=1"))
	expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
	loc, _ := url.Parse(d.Location)
	if got := loc.Query().Get("redirect_url"); got != "https://example.org/p?x=1&__clerk_synced=false" {
		t.Fatalf("sign-in return URL %q", got)
	}
	// 2. Back from the primary with __clerk_synced=false: a handshake with
	// the satellite's own Frontend API.
	d = e.decide(e.nav("https://example.org/p?x=1&__clerk_synced=false"))
	expect(t, d, Handshake, clerk.ReasonSatelliteNeedsSyncing)
	if !strings.HasPrefix(d.Location, "https://clerk.example.org/v1/client/handshake?redirect_url=https%3A%2F%2Fexample.org%2Fp%3Fx%3D1%26__clerk_synced%3Dfalse&") {
		t.Fatalf("handshake Location %q", d.Location)
	}
	// 3. The handshake comes back (production: a cookie): the browser is
	// sent on with __clerk_synced=true, so it does not sync again.
	tok := e.session(func(c clerktest.Claims) { c["iss"] = "https://clerk.example.org" })
	hs := e.fake.HandshakeToken([]string{"__session=" + tok + "; Path=/", uat(time.Now().Unix())})
	d = e.decide(e.nav("https://example.org/p?x=1&__clerk_synced=false", "__clerk_handshake="+hs))
	expect(t, d, Handshake, "")
	if d.Location != "https://example.org/p?x=1&__clerk_synced=true" {
		t.Fatalf("back to %q", d.Location)
	}
	// 4. Signed in there.
	d = e.decide(e.nav("https://example.org/p?x=1&__clerk_synced=true", "__session="+tok, uat(time.Now().Unix()-10)))
	expect(t, d, Allow, "")
	// The primary is untouched: no sync, no __clerk_synced.
	d = e.decide(e.nav("https://app.example.test/p"))
	expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
	if strings.Contains(d.Location, "__clerk_synced") {
		t.Fatalf("primary sign-in %q", d.Location)
	}
}

func TestDevelopmentSatelliteSyncsThroughThePrimarySignIn(t *testing.T) {
	e := newHSEnv(t, false, func(c *Config) {
		c.IsSatellite, c.Domain, c.SignInURL = true, "example.org", "https://app.example.test/sign-in"
	})
	d := e.decide(e.nav("https://example.org/p?__clerk_synced=false"))
	expect(t, d, Handshake, clerk.ReasonSatelliteNeedsSyncing)
	want := "https://app.example.test/sign-in?__clerk_redirect_url=" + formEscape("https://example.org/p?__clerk_synced=false")
	if d.Location != want {
		t.Fatalf("Location %q, want %q", d.Location, want)
	}
}

// Row 4 in the SDK follows any __clerk_redirect_url; here only a host the
// operator allowed, else the parameter is ignored.
func TestDevelopmentPrimaryAnswersSyncingOnlyToAllowedHosts(t *testing.T) {
	e := newHSEnv(t, false, func(c *Config) { c.AllowedRedirectHosts = []string{"example.org"} })
	back := url.QueryEscape("https://example.org/p?y=1")
	d := e.decide(e.nav("https://app.example.test/sign-in?__clerk_redirect_url="+back, "__clerk_db_jwt=dvb_7"))
	expect(t, d, Handshake, clerk.ReasonPrimaryRespondsToSyncing)
	if d.Location != "https://example.org/p?y=1&__clerk_db_jwt=dvb_7&__clerk_synced=true" {
		t.Fatalf("Location %q", d.Location)
	}
	for _, target := range []string{"https://evil.test/p", "javascript:alert(1)", "//evil.test/", "/relative"} {
		d = e.decide(e.nav("https://app.example.test/sign-in?__clerk_redirect_url="+url.QueryEscape(target), "__clerk_db_jwt=dvb_7"))
		if d.Reason == clerk.ReasonPrimaryRespondsToSyncing || !strings.HasPrefix(d.Location, "https://happy-hippo-1.accounts.dev/sign-in?") {
			t.Errorf("%s: %s %q %q", target, d.Outcome, d.Reason, d.Location)
		}
	}
}

func TestRelativeProxyURLIsResolvedAgainstTheRequestOrigin(t *testing.T) {
	e := newHSEnv(t, true, func(c *Config) { c.ProxyURL = "/__clerk" })
	for _, origin := range []string{"https://app.example.test", "http://other.example.test:8080"} {
		d := e.decide(e.nav(origin+"/p", uat(time.Now().Unix())))
		expect(t, d, Handshake, clerk.ReasonClientUATWithoutSessionToken)
		if !strings.HasPrefix(d.Location, origin+"/__clerk/v1/client/handshake?") {
			t.Errorf("Location %q, want the handshake under %s/__clerk", d.Location, origin)
		}
	}
}

// A "fea" entry without a colon makes the SDK throw while building the auth
// object; on the cookie path that is signed out (unexpected-error), so a
// browser navigation goes to sign-in and an API call gets 401.
func TestMalformedFeaturesOnTheCookiePathAreSignedOut(t *testing.T) {
	e := newHSEnv(t, true, nil)
	tok := e.session(func(c clerktest.Claims) {
		c.WithOrg("org_1", "acme", "admin", "o:reports,broken", "read", "1,1")
	})
	cookies := []string{"__session=" + tok, uat(time.Now().Unix() - 10)}
	expect(t, e.decide(e.nav("https://app.example.test/p", cookies...)), SignIn, clerk.ReasonUnexpectedError)
	expect(t, e.decide(e.api(e.nav("https://app.example.test/p", cookies...))), Unauthenticated, clerk.ReasonUnexpectedError)
	// A public route lets it through anonymously, as signed out.
	r := e.nav("https://app.example.test/p", cookies...)
	r.Rule = &Rule{Public: true}
	if d := e.decide(r); d.Outcome != Allow || d.Identity.UserID != "" {
		t.Fatalf("public route: %s %q", d.Outcome, d.Identity.UserID)
	}
}

// In production a nonce Clerk will not redeem leaves nothing to set: the
// SDK answers that request signed out, so a protected page goes to sign-in
// (with the nonce cookie deleted) instead of round the same URL.
func TestProductionNonceRedemptionFailureGoesToSignIn(t *testing.T) {
	e := newHSEnv(t, true, nil)
	d := e.decide(e.nav("https://app.example.test/p", "__clerk_handshake_nonce=unknown"))
	expect(t, d, SignIn, clerk.ReasonSessionTokenMissing)
	if len(d.SetCookies) != 1 || !strings.HasPrefix(d.SetCookies[0], "__clerk_handshake_nonce=; ") {
		t.Fatalf("cookies %q", d.SetCookies)
	}
}

// Anyone can send a made-up __clerk_handshake_nonce, and redeeming one is
// a Backend API call: beyond the redemption budget nonces are not
// redeemed (signed out, as a nonce Clerk refuses), so a flood cannot
// spend the instance's Clerk rate limit.
func TestHandshakeNoncesBeyondTheRedeemRateMakeNoAPICall(t *testing.T) {
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: true})
	now := time.Unix(1_800_000_000, 0)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	engine := NewEngine(Config{PublishableKey: pk, Now: func() time.Time { return now }}, v, Options{HandshakePayloads: api, NonceRedeemRate: 2})
	e := &hsEnv{fake: fake, engine: engine}
	for i := range 10 {
		d := e.decide(e.nav("https://app.example.test/p", "__clerk_handshake_nonce=made-up-"+strconv.Itoa(i)))
		expect(t, d, SignIn, clerk.ReasonSessionTokenMissing)
	}
	if n := fake.Calls(clerktest.RouteHandshakePayload); n != 4 {
		t.Fatalf("%d redemptions for 10 nonces at once, want the burst of 4", n)
	}
	// The budget refills: a real nonce a second later is redeemed.
	now = now.Add(time.Second)
	tok := e.session(nil)
	nonce := fake.AddHandshakeNonce([]string{"__session=" + tok + "; Path=/", uat(now.Unix() - 10)})
	d := e.decide(e.nav("https://app.example.test/p", "__clerk_handshake_nonce="+nonce))
	expect(t, d, Handshake, "")
	if len(d.SetCookies) < 2 || !strings.HasPrefix(d.SetCookies[0], "__session=") {
		t.Fatalf("cookies %q", d.SetCookies)
	}
}

// At the loop guard's limit a satellite's sync is signed out with the
// SDK's own explanation, not the one about mismatched keys.
func TestSatelliteSyncLoopNamesTheSatellite(t *testing.T) {
	e := newHSEnv(t, true, func(c *Config) { c.IsSatellite, c.Domain = true, "example.org" })
	d := e.decide(e.nav("https://example.org/p?__clerk_synced=false", "__clerk_redirect_count=3"))
	if d.Reason != clerk.ReasonSatelliteNeedsSyncing || !strings.HasPrefix(d.Message, "Clerk: Satellite-domain authentication resulted in an infinite redirect loop.") {
		t.Fatalf("%s %q: %q", d.Outcome, d.Reason, d.Message)
	}
}
