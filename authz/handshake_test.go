package authz

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// hsEnv is an engine over a fake instance, with nonce redemption wired.
type hsEnv struct {
	fake   *clerktest.Server
	engine *Engine
	sfx    string
	dev    bool
}

func newHSEnv(t *testing.T, production bool, mod func(*Config)) *hsEnv {
	t.Helper()
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: production})
	cfg := Config{PublishableKey: pk}
	if mod != nil {
		mod(&cfg)
	}
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	return &hsEnv{fake: fake, engine: NewEngine(cfg, v, Options{HandshakePayloads: api}), sfx: clerk.CookieSuffix(fake.PublishableKey), dev: !production}
}

// nav is a top-level GET navigation to rawURL with the given cookies; on a
// development instance a dev-browser cookie is added unless one is given.
func (e *hsEnv) nav(rawURL string, cookies ...string) *Request {
	h := http.Header{}
	h.Set("Sec-Fetch-Dest", "document")
	h.Set("Accept", "text/html")
	if e.dev && !strings.Contains(strings.Join(cookies, ";"), "__clerk_db_jwt") {
		cookies = append(cookies, "__clerk_db_jwt=dvb_test")
	}
	if len(cookies) > 0 {
		h.Set("Cookie", strings.Join(cookies, "; "))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	return &Request{Method: "GET", URL: u, Header: h}
}

func (e *hsEnv) api(r *Request) *Request {
	r.Header.Del("Sec-Fetch-Dest")
	r.Header.Set("Accept", "application/json")
	return r
}

func (e *hsEnv) decide(r *Request) Decision { return e.engine.Decide(context.Background(), r) }

func (e *hsEnv) session(mod func(clerktest.Claims)) string {
	c := e.fake.SessionClaims("user_1")
	if mod != nil {
		mod(c)
	}
	return e.fake.Sign(c)
}

func uat(ts int64) string { return "__client_uat=" + strconv.FormatInt(ts, 10) }

func expect(t *testing.T, d Decision, outcome Outcome, reason clerk.Reason) {
	t.Helper()
	if d.Outcome != outcome || d.Reason != reason {
		t.Fatalf("got %s/%q (%s), want %s/%q", d.Outcome, d.Reason, d.Message, outcome, reason)
	}
}

// Each row of the cookie-flow table (docs/clerk-protocol.md, "Cookie flow")
// that applies to a primary domain, with the SDK's reason, on both instance
// types; a non-navigation request gets 401 where a navigation would
// hand-shake.
func TestCookiePathRowsOnAPrimaryDomain(t *testing.T) {
	for _, production := range []bool{true, false} {
		e := newHSEnv(t, production, nil)
		now := time.Now().Unix()
		fresh := e.session(nil)
		machine := e.fake.Sign(clerktest.Claims{"sub": "mch_1", "exp": now + 60, "iat": now})
		forged, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
		rows := []struct {
			row     string
			cookies []string
			header  map[string]string
			nav     Outcome
			api     Outcome
			reason  clerk.Reason
		}{
			{"7 no uat, no session", nil, nil, SignIn, Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
			{"7 uat=0, no session", []string{uat(0)}, nil, SignIn, Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
			{"8 session without uat", []string{"__session=" + fresh}, nil, Handshake, Unauthenticated, clerk.ReasonSessionTokenWithoutClientUAT},
			{"8 garbage session without uat", []string{"__session=garbage"}, nil, Handshake, Unauthenticated, clerk.ReasonSessionTokenWithoutClientUAT},
			{"9 uat without session", []string{uat(now)}, nil, Handshake, Unauthenticated, clerk.ReasonClientUATWithoutSessionToken},
			{"10 undecodable session", []string{uat(now - 100), "__session=a.b"}, nil, SignIn, Unauthenticated, clerk.ReasonTokenInvalid},
			{"11 machine token", []string{uat(now - 100), "__session=" + machine}, nil, SignIn, Unauthenticated, clerk.ReasonTokenTypeMismatch},
			{"12 iat before uat", []string{uat(now + 30), "__session=" + fresh}, nil, Handshake, Unauthenticated, clerk.ReasonSessionTokenIATBeforeClientUAT},
			{"13 expired", []string{uat(now - 600), "__session=" + e.session(func(c clerktest.Claims) { c["iat"], c["exp"] = now-300, now-120 })}, nil, Handshake, Unauthenticated, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
			{"13 not active yet", []string{uat(now - 600), "__session=" + e.session(func(c clerktest.Claims) { c["nbf"] = now + 600; c["iat"] = now - 10 })}, nil, Handshake, Unauthenticated, clerk.ReasonSessionTokenNBF},
			{"13 iat in the future", []string{uat(now - 600), "__session=" + e.session(func(c clerktest.Claims) { c["iat"] = now + 600 })}, nil, Handshake, Unauthenticated, clerk.ReasonSessionTokenIatInTheFuture},
			{"13 bad signature", []string{uat(now - 100), "__session=" + clerktest.SignWith(forged, clerktest.Header{"alg": "RS256", "kid": forged.Kid}, e.fake.SessionClaims("user_1"))}, nil, SignIn, Unauthenticated, clerk.ReasonTokenInvalidSignature},
			{"14 cross-origin referer", []string{uat(now - 100), "__session=" + fresh}, map[string]string{"Referer": "https://elsewhere.test/"}, Handshake, Allow, clerk.ReasonPrimaryDomainCrossOriginSync},
			{"14 FAPI referer", []string{uat(now - 100), "__session=" + fresh}, map[string]string{"Referer": "https://" + e.fake.FAPIHost + "/v1/x"}, Allow, Allow, ""},
			{"14 Account Portal referer", []string{uat(now - 100), "__session=" + fresh}, map[string]string{"Referer": clerk.AccountsBaseURL(e.fake.FAPIHost) + "/sign-in"}, Allow, Allow, ""},
			{"14 same origin, default port spelled out", []string{uat(now - 100), "__session=" + fresh}, map[string]string{"Referer": "https://app.example.test:443/"}, Allow, Allow, ""},
			{"16 signed in", []string{uat(now - 100), "__session=" + fresh}, nil, Allow, Allow, ""},
		}
		for _, tt := range rows {
			name := "production"
			if !production {
				name = "development"
			}
			t.Run(name+"/"+tt.row, func(t *testing.T) {
				r := e.nav("https://app.example.test/page", tt.cookies...)
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
				expect(t, e.decide(r), tt.nav, tt.reason)
				r = e.api(e.nav("https://app.example.test/page", tt.cookies...))
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
				want := tt.reason
				if tt.api == Allow {
					want = ""
				}
				expect(t, e.decide(r), tt.api, want)
			})
		}
	}
}

func TestDevelopmentDevBrowserRows(t *testing.T) {
	e := newHSEnv(t, false, nil)
	now := time.Now().Unix()
	fresh := e.session(nil)
	t.Run("5 dev-browser token in the URL hand-shakes and is passed on", func(t *testing.T) {
		d := e.decide(e.nav("https://app.example.test/p?__clerk_db_jwt=dvb_fromurl&x=1", uat(now-100), "__session="+fresh))
		expect(t, d, Handshake, clerk.ReasonDevBrowserSync)
		loc, _ := url.Parse(d.Location)
		if got := loc.Query().Get("__clerk_db_jwt"); got != "dvb_fromurl" {
			t.Fatalf("dev browser sent %q (query wins over cookie)", got)
		}
		if got := loc.Query().Get("redirect_url"); got != "https://app.example.test/p?x=1" {
			t.Fatalf("redirect_url %q", got)
		}
	})
	t.Run("6 no dev-browser token", func(t *testing.T) {
		r := e.nav("https://app.example.test/p", "__clerk_db_jwt=", uat(now-100), "__session="+fresh)
		expect(t, e.decide(r), Handshake, clerk.ReasonDevBrowserMissing)
	})
	// docs/clerk-protocol.md, "Where we differ from the SDK", erratum 7.
	t.Run("errata 7: suffixed family needs the suffixed dev browser", func(t *testing.T) {
		sfx := "_" + e.sfx
		cookies := []string{"__client_uat" + sfx + "=" + strconv.FormatInt(now-100, 10), "__session" + sfx + "=" + fresh, "__clerk_db_jwt=dvb_plain"}
		expect(t, e.decide(e.nav("https://app.example.test/p", cookies...)), Handshake, clerk.ReasonDevBrowserMissing)
		cookies = append(cookies, "__clerk_db_jwt"+sfx+"=dvb_suffixed")
		expect(t, e.decide(e.nav("https://app.example.test/p", cookies...)), Allow, "")
	})
	t.Run("another instance's FAPI is not a trusted referer", func(t *testing.T) {
		r := e.nav("https://app.example.test/p", uat(now-100), "__session="+fresh)
		r.Header.Set("Referer", "https://other-instance-9.clerk.accounts.dev/")
		expect(t, e.decide(r), Handshake, clerk.ReasonPrimaryDomainCrossOriginSync)
		r.Header.Set("Referer", "https://happy-hippo-1.accounts.dev/sign-in")
		expect(t, e.decide(r), Allow, "")
	})
}

func TestHandshakeRedirectCarriesTheSDKParametersInOrder(t *testing.T) {
	e := newHSEnv(t, false, func(c *Config) { c.ProxyURL = "https://app.example.test/__clerk/" })
	stale := e.session(func(c clerktest.Claims) { c["exp"] = time.Now().Unix() - 120 })
	d := e.decide(e.nav("https://app.example.test/a%20b?q=1&__clerk_db_jwt=dvb_q#frag", uat(1), "__session="+stale))
	want := "https://app.example.test/__clerk/v1/client/handshake?redirect_url=" + url.QueryEscape("https://app.example.test/a%20b?q=1") +
		"&__clerk_api_version=" + clerk.APIVersion + "&suffixed_cookies=false&__clerk_hs_reason=dev-browser-sync&format=nonce&__session=" + stale + "&__clerk_db_jwt=dvb_q"
	if d.Outcome != Handshake || d.Location != want {
		t.Fatalf("Location\n got %s\nwant %s", d.Location, want)
	}
	if len(d.SetCookies) != 1 || d.SetCookies[0] != "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2" {
		t.Fatalf("cookies %q", d.SetCookies)
	}
}

func TestRedirectLoopGuard(t *testing.T) {
	e := newHSEnv(t, true, nil)
	for _, tt := range []struct {
		counter string
		want    Outcome
		next    string
	}{
		{"", Handshake, "1"},
		{"0", Handshake, "1"},
		{"1", Handshake, "2"},
		{"2", Handshake, "3"},
		{"3", SignIn, ""},     // exactly three: signed out
		{"4", Handshake, "5"}, // docs/clerk-protocol.md erratum 10: compared with ==
		{"abc", Handshake, "1"},
	} {
		t.Run("counter="+tt.counter, func(t *testing.T) {
			cookies := []string{uat(time.Now().Unix())}
			if tt.counter != "" {
				cookies = append(cookies, "__clerk_redirect_count="+tt.counter)
			}
			d := e.decide(e.nav("https://app.example.test/", cookies...))
			expect(t, d, tt.want, clerk.ReasonClientUATWithoutSessionToken)
			if tt.next != "" && (len(d.SetCookies) != 1 || !strings.HasPrefix(d.SetCookies[0], "__clerk_redirect_count="+tt.next+";")) {
				t.Fatalf("counter cookie %q", d.SetCookies)
			}
			if tt.next == "" && len(d.SetCookies) != 0 {
				t.Fatalf("cookies at the limit: %q", d.SetCookies)
			}
		})
	}
}

// directives as Clerk's Frontend API writes them for a signed-in browser.
func (e *hsEnv) signedInDirectives(token string) []string {
	return []string{
		"__clerk_handshake=; Path=/; Max-Age=0",
		"__session=" + token + "; Path=/; SameSite=Lax",
		"__client_uat=" + strconv.FormatInt(time.Now().Unix(), 10) + "; Path=/; Max-Age=315360000; SameSite=Lax",
	}
}

func TestHandshakeCompletionTokenInQuery(t *testing.T) {
	e := newHSEnv(t, false, nil)
	dirs := e.signedInDirectives(e.session(nil))
	hs := e.fake.HandshakeToken(dirs)
	r := e.nav("https://app.example.test/p?a=1&__clerk_handshake="+hs+"&__clerk_help=1&__clerk_db_jwt=dvb_x&b=2", "__session=stale")
	// Any method and destination: completion is cookie-flow row 1
	// (docs/clerk-protocol.md, "Cookie flow").
	r = e.api(r)
	d := e.decide(r)
	expect(t, d, Handshake, "")
	if d.Location != "https://app.example.test/p?a=1&b=2" {
		t.Fatalf("Location %q", d.Location)
	}
	if strings.Join(d.SetCookies, "\n") != strings.Join(dirs, "\n") {
		t.Fatalf("cookies\n%q\nwant verbatim, in order\n%q", d.SetCookies, dirs)
	}
}

func TestHandshakeCompletionNonceInCookieWinsOverToken(t *testing.T) {
	e := newHSEnv(t, true, nil)
	dirs := e.signedInDirectives(e.session(nil))
	nonce := e.fake.AddHandshakeNonce(dirs)
	other := e.fake.HandshakeToken([]string{"__session=ignored"})
	d := e.decide(e.nav("https://app.example.test/p?x=1", "__clerk_handshake_nonce="+nonce, "__clerk_handshake="+other, "__clerk_redirect_count=1"))
	expect(t, d, Handshake, "")
	want := append(append([]string{}, dirs...), "__clerk_handshake_nonce=; Path=/; Max-Age=0; SameSite=Lax; Secure", "__clerk_redirect_count=2; SameSite=Lax; HttpOnly; Max-Age=2")
	if d.Location != "https://app.example.test/p?x=1" || strings.Join(d.SetCookies, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Location %q cookies\n%q\nwant\n%q", d.Location, d.SetCookies, want)
	}
	if n := e.fake.Calls(clerktest.RouteHandshakePayload); n != 1 {
		t.Fatalf("%d nonce redemptions", n)
	}
}

func TestHandshakeNonceFailureIsSignedOutWithoutCookies(t *testing.T) {
	e := newHSEnv(t, false, nil)
	d := e.decide(e.nav("https://app.example.test/p?__clerk_handshake_nonce=unknown"))
	expect(t, d, Handshake, clerk.ReasonSessionTokenMissing)
	if d.Location != "https://app.example.test/p" || len(d.SetCookies) != 0 {
		t.Fatalf("Location %q cookies %q", d.Location, d.SetCookies)
	}
}

func TestHandshakeCookieLoopIsBoundedByTheCounter(t *testing.T) {
	e := newHSEnv(t, true, nil)
	tok := e.session(nil)
	hs := e.fake.HandshakeToken([]string{"__session=" + tok + "; Path=/", uat(time.Now().Unix())})
	d := e.decide(e.nav("https://app.example.test/p", "__clerk_handshake="+hs, "__clerk_redirect_count=3"))
	// At the limit: served like the SDK in production, cookies attached.
	expect(t, d, Allow, "")
	if len(d.SetCookies) != 3 || !strings.HasPrefix(d.SetCookies[2], "__clerk_handshake=; Path=/; Max-Age=0") {
		t.Fatalf("cookies %q", d.SetCookies)
	}
}

func TestForgedAndForeignHandshakesNeverSetACookie(t *testing.T) {
	for _, production := range []bool{true, false} {
		e := newHSEnv(t, production, nil)
		other, err := clerktest.New(clerktest.Options{Production: production})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		forger, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
		victim := []string{"__session=" + e.session(nil) + "; Path=/", uat(time.Now().Unix())}
		tokens := map[string]string{
			"forged":   clerktest.SignWith(forger, clerktest.Header{"alg": "RS256", "kid": forger.Kid}, clerktest.Claims{"handshake": victim}),
			"foreign":  other.HandshakeToken([]string{"__session=" + other.Sign(other.SessionClaims("user_1")) + "; Path=/"}),
			"template": clerktest.SignWith(e.fake.Key(), clerktest.Header{"alg": "RS256", "kid": e.fake.Key().Kid, "cat": "cl_B7d4PD222AAA"}, clerktest.Claims{"handshake": victim}),
		}
		for name, tok := range tokens {
			t.Run(strconv.FormatBool(production)+"/"+name, func(t *testing.T) {
				for _, in := range []string{"query", "cookie"} {
					var r *Request
					if in == "query" {
						r = e.nav("https://app.example.test/p?__clerk_handshake=" + tok)
					} else {
						r = e.nav("https://app.example.test/p", "__clerk_handshake="+tok)
					}
					d := e.decide(r)
					for _, c := range d.SetCookies {
						if strings.HasPrefix(c, "__session") || strings.HasPrefix(c, "__client_uat") {
							t.Fatalf("%s: cookie set from a bad handshake: %q", in, c)
						}
					}
					if production {
						// Logged and ignored; the cookie flow decides.
						expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
					} else if d.Outcome != SignIn || d.Reason == "" {
						t.Fatalf("%s: development must fail hard (signed out), got %s/%s", in, d.Outcome, d.Reason)
					}
					if in == "cookie" && (len(d.SetCookies) != 1 || !strings.HasPrefix(d.SetCookies[0], "__clerk_handshake=; Path=/; Max-Age=0")) {
						t.Fatalf("handshake cookie not deleted: %q", d.SetCookies)
					}
				}
			})
		}
	}
}

func TestBadSessionInsideValidHandshakeDropsCookies(t *testing.T) {
	// docs/clerk-protocol.md erratum 5: cookies dropped, cookie flow
	// continues, on both instances.
	for _, production := range []bool{true, false} {
		e := newHSEnv(t, production, nil)
		forger, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
		bad := clerktest.SignWith(forger, clerktest.Header{"alg": "RS256", "kid": forger.Kid}, e.fake.SessionClaims("user_1"))
		hs := e.fake.HandshakeToken([]string{"__session=" + bad + "; Path=/", uat(time.Now().Unix())})
		d := e.decide(e.nav("https://app.example.test/p?__clerk_handshake=" + hs))
		expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
		if len(d.SetCookies) != 0 {
			t.Fatalf("cookies %q", d.SetCookies)
		}
	}
}

func TestDevelopmentRetriesHandshakeSessionWithClockSkew(t *testing.T) {
	expired := func(e *hsEnv) string {
		return e.session(func(c clerktest.Claims) {
			now := time.Now().Unix()
			c["iat"], c["nbf"], c["exp"] = now-3600, now-3600, now-3000
		})
	}
	dev := newHSEnv(t, false, nil)
	hs := dev.fake.HandshakeToken([]string{"__session=" + expired(dev) + "; Path=/"})
	d := dev.decide(dev.nav("https://app.example.test/p?__clerk_handshake=" + hs))
	expect(t, d, Handshake, "")
	if len(d.SetCookies) != 1 {
		t.Fatalf("cookies %q", d.SetCookies)
	}
	prod := newHSEnv(t, true, nil)
	hs = prod.fake.HandshakeToken([]string{"__session=" + expired(prod) + "; Path=/"})
	d = prod.decide(prod.nav("https://app.example.test/p?__clerk_handshake=" + hs))
	expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
}

func TestHandshakeClaimNotAnArrayIsSessionTokenMissing(t *testing.T) {
	e := newHSEnv(t, false, nil)
	k := e.fake.Key()
	hs := clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid}, clerktest.Claims{"handshake": "__session=x"})
	d := e.decide(e.nav("https://app.example.test/p?__clerk_handshake=" + hs))
	expect(t, d, Handshake, clerk.ReasonSessionTokenMissing)
	if len(d.SetCookies) != 0 || d.Location != "https://app.example.test/p" {
		t.Fatalf("%q %q", d.Location, d.SetCookies)
	}
}

func TestAuthRequestIgnoresHandshakeValues(t *testing.T) {
	e := newHSEnv(t, false, nil)
	hs := e.fake.HandshakeToken(e.signedInDirectives(e.session(nil)))
	r := e.nav("https://app.example.test/p?__clerk_handshake=" + hs)
	r.ReturnViaCallback = true
	d := e.decide(r)
	expect(t, d, SignIn, clerk.ReasonSessionTokenAndUATMissing)
	if len(d.SetCookies) != 0 || strings.Contains(d.Location, "__clerk_handshake") {
		t.Fatalf("%q %q", d.Location, d.SetCookies)
	}
}

func TestCompleteHandshakeOnTheCallbackRoute(t *testing.T) {
	e := newHSEnv(t, true, nil)
	target, _ := url.Parse("https://app.example.test/orig?x=1&__clerk_handshake=junk")
	dirs := e.signedInDirectives(e.session(nil))
	cb := e.nav("https://app.example.test/_auth/callback?redirect_url=x", "__clerk_handshake="+e.fake.HandshakeToken(dirs))
	d := e.engine.CompleteHandshake(context.Background(), cb, target)
	if d.Outcome != Handshake || d.Location != "https://app.example.test/orig?x=1" || strings.Join(d.SetCookies, "\n") != strings.Join(dirs, "\n") {
		t.Fatalf("%s %q %q", d.Outcome, d.Location, d.SetCookies)
	}
	// Without handshake parameters: a plain redirect.
	d = e.engine.CompleteHandshake(context.Background(), e.nav("https://app.example.test/_auth/callback"), target)
	if d.Outcome != Handshake || d.Location != "https://app.example.test/orig?x=1" || len(d.SetCookies) != 0 {
		t.Fatalf("%s %q %q", d.Outcome, d.Location, d.SetCookies)
	}
	// A forged handshake: redirect on, the cookie deleted, nothing set.
	forger, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
	bad := clerktest.SignWith(forger, clerktest.Header{"alg": "RS256", "kid": forger.Kid}, clerktest.Claims{"handshake": dirs})
	d = e.engine.CompleteHandshake(context.Background(), e.nav("https://app.example.test/_auth/callback", "__clerk_handshake="+bad), target)
	if len(d.SetCookies) != 1 || !strings.HasPrefix(d.SetCookies[0], "__clerk_handshake=; ") {
		t.Fatalf("%q", d.SetCookies)
	}
}

func TestSignInURL(t *testing.T) {
	for _, tt := range []struct {
		cfg, want string
	}{
		// On another host a development instance passes its dev-browser
		// token along (createRedirect); on the request's own it does not.
		{"", "https://happy-hippo-1.accounts.dev/sign-in?redirect_url=" + url.QueryEscape("https://app.example.test/p?x=1") + "&__clerk_db_jwt=dvb_1"},
		{"/sign-in", "https://app.example.test/sign-in?redirect_url=" + url.QueryEscape("https://app.example.test/p?x=1")},
		{"https://auth.example.test/login?lang=en", "https://auth.example.test/login?lang=en&redirect_url=" + url.QueryEscape("https://app.example.test/p?x=1") + "&__clerk_db_jwt=dvb_1"},
	} {
		e := newHSEnv(t, false, func(c *Config) { c.SignInURL = tt.cfg })
		// Through /auth-request a stale handshake parameter is ignored, and
		// must not ride along into redirect_url.
		r := e.nav("https://app.example.test/p?x=1&__clerk_handshake_nonce=gone", "__clerk_db_jwt=dvb_1")
		r.ReturnViaCallback = true
		d := e.decide(r)
		if d.Outcome != SignIn || d.Location != tt.want {
			t.Errorf("%q: %s %q, want %q", tt.cfg, d.Outcome, d.Location, tt.want)
		}
	}
}

// TestHandshakeNonceNeverReachesTheLog: when the Backend API cannot be
// reached, the error quotes the URL it called, which carries the nonce
// (GET /v1/clients/handshake_payload?nonce=…); the log line must not.
func TestHandshakeNonceNeverReachesTheLog(t *testing.T) {
	const nonce = "nonce_2xYzSECRET+/="
	tests := []struct {
		name       string
		production bool
		cookie     bool
	}{
		{"production, nonce in the query", true, false},
		{"production, nonce in a cookie", true, true},
		{"development, nonce in the query", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHSEnv(t, tt.production, nil)
			down, err := clerk.NewAPI("http://127.0.0.1:1", "v1", e.fake.SecretKey, "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			e.engine.payloads = down
			e.engine.log = slog.New(slog.NewTextHandler(&logs, nil))
			r := e.nav("https://app.example.test/p?__clerk_handshake_nonce=" + url.QueryEscape(nonce))
			if tt.cookie {
				r = e.nav("https://app.example.test/p", "__clerk_handshake_nonce="+url.QueryEscape(nonce))
			}
			e.decide(r)
			out := logs.String()
			if !strings.Contains(out, "error getting handshake payload") {
				t.Fatalf("no log line for the failed redemption:\n%s", out)
			}
			for _, s := range []string{nonce, url.QueryEscape(nonce), "SECRET"} {
				if strings.Contains(out, s) {
					t.Fatalf("the log holds the nonce (%q):\n%s", s, out)
				}
			}
		})
	}
}
