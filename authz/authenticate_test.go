package authz

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestParseAuthorizationLikeTheSDK(t *testing.T) {
	tests := map[string]string{
		"":                     "",
		"Bearer tok":           "tok",
		"Bearer tok junk":      "tok",
		"Bearer  tok":          "Bearer", // two spaces: the second field is empty
		"Bearer":               "Bearer", // a lone value is the token itself
		"tok":                  "tok",
		"bearer tok":           "", // scheme is case-sensitive
		"Basic dXNlcjpwYXNz":   "",
		"Bearer\ttok":          "Bearer\ttok", // a tab is not a separator
		"Bearer tok\tmore bit": "tok\tmore",
	}
	for in, want := range tests {
		if got := parseAuthorization(in); got != want {
			t.Errorf("parseAuthorization(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseIntLikeJS(t *testing.T) {
	tests := map[string]int64{"123": 123, "123abc": 123, "abc": 0, "-5": -5, "": 0, " 7": 7, "+3": 3, "1.9": 1}
	for in, want := range tests {
		if got := parseIntLikeJS(in); got != want {
			t.Errorf("parseIntLikeJS(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestClientUATIsReadAsParseIntReadsIt: the SDK reads __client_uat with
// Number.parseInt, which skips JavaScript's white space (a no-break space
// too), reads a number too big for int64 as a huge one, never as 0, and
// without a radix reads "0x"/"0X" and hex digits (after a sign too) as a
// hex number: a session cookie with such a __client_uat is verified
// there, and a __client_uat alone is an active client.
func TestClientUATIsReadAsParseIntReadsIt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"\u00a05", 5},
		{"\ufeff\u30007", 7},
		{"\u2028\u20298", 8},
		{"\u00859", 0}, // NEL is not JavaScript white space
		{"99999999999999999999", math.MaxInt64},
		{"-99999999999999999999", math.MinInt64},
		{"12345678901234567890123abc", math.MaxInt64},
		{"0x10", 16},
		{"0X1f", 31},
		{"-0x10", -16},
		{"+0x10", 16},
		{" 0x1Fzz", 31},
		{"0x", 0},    // no hex digit: NaN, so 0
		{"0xg", 0},   // the same
		{"00x10", 0}, // the prefix only at the start
		{"0x8000000000000000", math.MaxInt64},
		{"-0x8000000000000001", math.MinInt64},
	}
	for _, tt := range tests {
		if got := parseIntLikeJS(tt.in); got != tt.want {
			t.Errorf("parseIntLikeJS(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	env := newTestEnv(t, true, nil)
	valid := env.token(nil)
	decisions := []struct {
		name    string
		cookie  string
		outcome Outcome
		reason  clerk.Reason
	}{
		{"session and a client uat after a no-break space", "__session=" + valid + "; __client_uat=%C2%A01", Allow, ""},
		{"session and a huge client uat", "__session=" + valid + "; __client_uat=99999999999999999999", Handshake, clerk.ReasonSessionTokenIATBeforeClientUAT},
		{"a huge client uat alone", "__client_uat=99999999999999999999", Handshake, clerk.ReasonClientUATWithoutSessionToken},
		{"session and a hex client uat", "__session=" + valid + "; __client_uat=0x10", Allow, ""},
		{"a hex client uat alone", "__client_uat=0x10", Handshake, clerk.ReasonClientUATWithoutSessionToken},
		{"session and a bare 0x client uat", "__session=" + valid + "; __client_uat=0x", Handshake, clerk.ReasonSessionTokenWithoutClientUAT},
	}
	for _, tt := range decisions {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(browser(req("GET", "Cookie", tt.cookie)))
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Fatalf("got %v/%q (%s), want %v/%q", d.Outcome, d.Reason, d.Message, tt.outcome, tt.reason)
			}
		})
	}
}

func TestDecideProductionInstance(t *testing.T) {
	env := newTestEnv(t, true, nil)
	now := time.Now()
	valid := env.token(nil)
	expired := env.token(func(c clerktest.Claims) {
		c["iat"] = now.Add(-time.Hour).Unix()
		c["exp"] = now.Add(-time.Minute).Unix()
	})
	attacker, _ := clerktest.NewSigningKey(env.fake.Key().Kid)
	expiredBadSig := clerktest.SignWith(attacker, clerktest.Header{"alg": "RS256", "kid": attacker.Kid}, clerktest.Claims{"sub": "user_1", "sid": "sess_1", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})
	template := clerktest.SignWith(env.fake.Key(), clerktest.Header{"alg": "RS256", "kid": env.fake.Key().Kid, "cat": "cl_B7d4PD222AAA"}, env.fake.SessionClaims("user_1"))
	machine := env.token(func(c clerktest.Claims) { c["sub"] = "mch_123" })
	pending := env.token(func(c clerktest.Claims) { c["sts"] = "pending" })
	oldIat := env.token(func(c clerktest.Claims) { c["iat"] = now.Add(-time.Hour).Unix() })
	uat := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)
	cookie := func(tok string, uat string) string {
		s := "__session=" + tok
		if uat != "" {
			s += "; __client_uat=" + uat
		}
		return s
	}
	tests := []struct {
		name    string
		req     *Request
		outcome Outcome
		reason  clerk.Reason
	}{
		{"bearer token", req("GET", "Authorization", "Bearer "+valid), Allow, ""},
		{"header token wins over a bad cookie", req("GET", "Authorization", "Bearer "+valid, "Cookie", cookie("garbage", uat)), Allow, ""},
		{"header token decides even with a good cookie", req("GET", "Authorization", "Bearer "+expired, "Cookie", cookie(valid, uat)), Unauthenticated, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{"other schemes carry no token", req("GET", "Authorization", "Basic dXNlcjpwYXNz"), Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
		{"no credentials, API call", req("GET"), Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
		{"no credentials, browser", browser(req("GET")), SignIn, clerk.ReasonSessionTokenAndUATMissing},
		{"no credentials, HEAD never redirects", browser(req("HEAD")), Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
		{"cookie with client uat", req("GET", "Cookie", cookie(valid, uat)), Allow, ""},
		{"client uat 0 and no session", req("GET", "Cookie", "__client_uat=0"), Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
		{"session without client uat, API", req("GET", "Cookie", cookie(valid, "")), Unauthenticated, clerk.ReasonSessionTokenWithoutClientUAT},
		{"session without client uat, browser", browser(req("GET", "Cookie", cookie(valid, ""))), Handshake, clerk.ReasonSessionTokenWithoutClientUAT},
		{"garbage session without client uat hand-shakes", browser(req("GET", "Cookie", cookie("garbage", ""))), Handshake, clerk.ReasonSessionTokenWithoutClientUAT},
		{"client uat without session, browser", browser(req("GET", "Cookie", "__client_uat="+uat)), Handshake, clerk.ReasonClientUATWithoutSessionToken},
		{"negative client uat counts as an active client", browser(req("GET", "Cookie", "__client_uat=-5")), Handshake, clerk.ReasonClientUATWithoutSessionToken},
		{"garbage session is signed out, never hand-shakes", browser(req("GET", "Cookie", cookie("garbage", uat))), SignIn, clerk.ReasonTokenInvalid},
		{"quoted session is invalid", req("GET", "Cookie", `__session="`+valid+`"; __client_uat=`+uat), Unauthenticated, clerk.ReasonTokenInvalid},
		{"iat before client uat, browser", browser(req("GET", "Cookie", cookie(oldIat, strconv.FormatInt(now.Unix(), 10)))), Handshake, clerk.ReasonSessionTokenIATBeforeClientUAT},
		{"template token is not a session", req("GET", "Cookie", cookie(template, uat)), Unauthenticated, clerk.ReasonTokenTypeMismatch},
		{"template token in the header", req("GET", "Authorization", "Bearer "+template), Unauthenticated, clerk.ReasonTokenTypeMismatch},
		{"machine token is not a session", req("GET", "Authorization", "Bearer "+machine), Unauthenticated, clerk.ReasonTokenTypeMismatch},
		{"opaque machine token is invalid", req("GET", "Authorization", "Bearer mt_123"), Unauthenticated, clerk.ReasonTokenInvalid},
		{"expired cookie, browser hand-shakes", browser(req("GET", "Cookie", cookie(expired, "1"))), Handshake, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{"expired header token, browser hand-shakes", browser(req("GET", "Authorization", "Bearer "+expired)), Handshake, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{"expired cookie, POST is signed out", browser(req("POST", "Cookie", cookie(expired, "1"))), Unauthenticated, "session-token-expired-refresh-non-eligible-non-get"},
		{"expired with bad signature is signed out", browser(req("GET", "Cookie", cookie(expiredBadSig, "1"))), SignIn, clerk.ReasonTokenInvalidSignature},
		{"pending session, API", req("GET", "Authorization", "Bearer "+pending), Unauthenticated, ReasonSessionPending},
		{"pending session, browser goes to tasks", browser(req("GET", "Authorization", "Bearer "+pending)), SignIn, ReasonSessionPending},
		{"cross-origin navigation hand-shakes once", browser(req("GET", "Cookie", cookie(valid, uat), "Referer", "https://other.example/page")), Handshake, clerk.ReasonPrimaryDomainCrossOriginSync},
		{"navigation from the account portal does not", browser(req("GET", "Cookie", cookie(valid, uat), "Referer", "https://accounts.example.test/sign-in")), Allow, ""},
		{"same-origin navigation does not", browser(req("GET", "Cookie", cookie(valid, uat), "Referer", "https://app.example.test/")), Allow, ""},
		{"loop guard: fourth redirect is signed out", browser(req("GET", "Cookie", cookie(expired, "1")+"; __clerk_redirect_count=3")), SignIn, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{"loop guard compares with exactly 3", browser(req("GET", "Cookie", cookie(expired, "1")+"; __clerk_redirect_count=4")), Handshake, "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{"token in the query string is ignored", &Request{Method: "GET", URL: mustURL("https://app.example.test/?__session=" + valid + "&token=" + valid), Header: req("GET").Header}, Unauthenticated, clerk.ReasonSessionTokenAndUATMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(tt.req)
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Fatalf("got %v/%q (%s), want %v/%q", d.Outcome, d.Reason, d.Message, tt.outcome, tt.reason)
			}
			if d.Outcome == Allow && d.Identity.UserID != "user_1" {
				t.Fatalf("identity = %+v", d.Identity)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestHandshakeRedirect(t *testing.T) {
	env := newTestEnv(t, true, nil)
	tok := env.token(nil)
	d := env.decide(browser(req("GET", "Cookie", "__session="+tok+"; __clerk_redirect_count=1")))
	if d.Outcome != Handshake {
		t.Fatalf("outcome %v", d.Outcome)
	}
	loc, err := url.Parse(d.Location)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Scheme != "https" || loc.Host != env.fake.FAPIHost || loc.Path != "/v1/client/handshake" {
		t.Fatalf("location %s", d.Location)
	}
	wantOrder := []string{"redirect_url", "__clerk_api_version", "suffixed_cookies", "__clerk_hs_reason", "format", "__session"}
	var gotOrder []string
	for _, kv := range strings.Split(loc.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		gotOrder = append(gotOrder, k)
	}
	if strings.Join(gotOrder, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("parameter order %v, want %v", gotOrder, wantOrder)
	}
	q := loc.Query()
	want := map[string]string{
		"redirect_url": "https://app.example.test/dashboard?tab=1", "__clerk_api_version": clerk.APIVersion,
		"suffixed_cookies": "false", "__clerk_hs_reason": string(clerk.ReasonSessionTokenWithoutClientUAT),
		"format": "nonce", "__session": tok,
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(d.SetCookies) != 1 || d.SetCookies[0] != "__clerk_redirect_count=2; SameSite=Lax; HttpOnly; Max-Age=2" {
		t.Fatalf("cookies %v", d.SetCookies)
	}
}

func TestHandshakeReturnsThroughCallbackForNGINX(t *testing.T) {
	env := newTestEnv(t, true, func(c *Config, _ *clerk.VerifyOptions) { c.ProxyURL = "https://app.example.test/__clerk/" })
	r := browser(req("GET", "Cookie", "__client_uat=1"))
	r.ReturnViaCallback = true
	d := env.decide(r)
	loc, _ := url.Parse(d.Location)
	if !strings.HasPrefix(d.Location, "https://app.example.test/__clerk/v1/client/handshake?") {
		t.Fatalf("location %s does not use CLERK_PROXY_URL", d.Location)
	}
	if got := loc.Query().Get("redirect_url"); got != "https://app.example.test/_auth/callback?redirect_url=https%3A%2F%2Fapp.example.test%2Fdashboard%3Ftab%3D1" {
		t.Fatalf("redirect_url %s", got)
	}
}

func TestSignInRedirect(t *testing.T) {
	tests := []struct {
		name, signIn, want string
	}{
		{"account portal from the publishable key", "", "https://accounts.example.test/sign-in?redirect_url=https%3A%2F%2Fapp.example.test%2Fdashboard%3Ftab%3D1"},
		{"configured sign-in URL keeps its query", "https://login.example.test/in?lang=en", "https://login.example.test/in?lang=en&redirect_url=https%3A%2F%2Fapp.example.test%2Fdashboard%3Ftab%3D1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, true, func(c *Config, _ *clerk.VerifyOptions) { c.SignInURL = tt.signIn })
			d := env.decide(browser(req("GET")))
			if d.Outcome != SignIn || d.Location != tt.want {
				t.Fatalf("got %v %s", d.Outcome, d.Location)
			}
		})
	}
}

func TestDecideDevelopmentInstance(t *testing.T) {
	env := newTestEnv(t, false, nil)
	valid := env.token(nil)
	uat := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	tests := []struct {
		name    string
		req     *Request
		outcome Outcome
		reason  clerk.Reason
	}{
		{"session with dev-browser cookie", req("GET", "Cookie", "__session="+valid+"; __client_uat="+uat+"; __clerk_db_jwt=dvb_1"), Allow, ""},
		{"no dev-browser token, API", req("GET", "Cookie", "__session="+valid+"; __client_uat="+uat), Unauthenticated, clerk.ReasonDevBrowserMissing},
		{"no dev-browser token, browser", browser(req("GET", "Cookie", "__session="+valid+"; __client_uat="+uat)), Handshake, clerk.ReasonDevBrowserMissing},
		{"dev-browser token in the URL syncs", browser(&Request{Method: "GET", URL: mustURL("https://app.example.test/?__clerk_db_jwt=dvb_2"), Header: req("GET").Header}), Handshake, clerk.ReasonDevBrowserSync},
		{"bearer token needs no dev browser", req("GET", "Authorization", "Bearer "+valid), Allow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(tt.req)
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Fatalf("got %v/%q (%s), want %v/%q", d.Outcome, d.Reason, d.Message, tt.outcome, tt.reason)
			}
		})
	}
	d := env.decide(browser(&Request{Method: "GET", URL: mustURL("https://app.example.test/p?a=1&__clerk_db_jwt=dvb_2"), Header: req("GET").Header}))
	q := mustURL(d.Location).Query()
	if q.Get("__clerk_db_jwt") != "dvb_2" || q.Get("redirect_url") != "https://app.example.test/p?a=1" {
		t.Fatalf("dev handshake query %v", q)
	}
}

func TestUsesSuffixedCookies(t *testing.T) {
	env := newTestEnv(t, false, nil)
	sfx := "_" + env.suffix
	now := time.Now()
	mine := func(iat time.Time, exp time.Time) string {
		return env.token(func(c clerktest.Claims) { c["iat"] = iat.Unix(); c["exp"] = exp.Unix() })
	}
	foreign := env.token(func(c clerktest.Claims) { c["iss"] = "https://other.clerk.accounts.dev" })
	noIss := env.token(func(c clerktest.Claims) { delete(c, "iss") })
	older, newer := mine(now.Add(-30*time.Second), now.Add(time.Minute)), mine(now, now.Add(time.Minute))
	expiredSfx := mine(now.Add(-time.Hour), now.Add(-time.Minute))
	tests := []struct {
		name   string
		cookie string
		want   bool
	}{
		{"1: session without iss → un-suffixed", "__session=" + noIss + "; __session" + sfx + "=" + newer + "; __client_uat" + sfx + "=1", false},
		{"1: undecodable session → un-suffixed", "__session=garbage; __client_uat" + sfx + "=1", false},
		{"2: session from another instance → suffixed", "__session=" + foreign, true},
		{"3: no suffixed cookies → un-suffixed", "__session=" + newer + "; __client_uat=1", false},
		{"4: un-suffixed session is newer → un-suffixed", "__session=" + newer + "; __session" + sfx + "=" + older + "; __client_uat=1; __client_uat" + sfx + "=1", false},
		{"4: suffixed session is newer → suffixed", "__session=" + older + "; __session" + sfx + "=" + newer + "; __client_uat=1; __client_uat" + sfx + "=1", true},
		{"5: suffixed uat 0, un-suffixed not → un-suffixed", "__session" + sfx + "=" + newer + "; __client_uat" + sfx + "=0; __client_uat=5", false},
		{"6: dev, suffixed session expired with uat 0 → un-suffixed", "__session" + sfx + "=" + expiredSfx + "; __client_uat" + sfx + "=5; __client_uat=0", false},
		{"7: suffixed session without suffixed uat → un-suffixed", "__session" + sfx + "=" + newer, false},
		{"8: suffixed family complete → suffixed", "__session" + sfx + "=" + newer + "; __client_uat" + sfx + "=5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &authContext{cookies: clerk.ParseCookies([]string{tt.cookie}), site: &env.engine.primary}
			f := env.engine.readCookies(c)
			got := env.engine.usesSuffixedCookies(c, &f)
			if got != tt.want {
				t.Fatalf("usesSuffixedCookies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSuffixedFamilyIsRead(t *testing.T) {
	env := newTestEnv(t, false, nil)
	sfx := "_" + env.suffix
	valid := env.token(nil)
	uat := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	// The suffixed family is chosen, so the un-suffixed dev-browser cookie
	// does not count (docs/clerk-protocol.md, erratum 7).
	base := "__session" + sfx + "=" + valid + "; __client_uat" + sfx + "=" + uat
	if d := env.decide(req("GET", "Cookie", base+"; __clerk_db_jwt"+sfx+"=dvb")); d.Outcome != Allow {
		t.Fatalf("suffixed family: %v %s", d.Outcome, d.Reason)
	}
	if d := env.decide(req("GET", "Cookie", base+"; __clerk_db_jwt=dvb")); d.Reason != clerk.ReasonDevBrowserMissing {
		t.Fatalf("un-suffixed dev browser with suffixed family: %v %s", d.Outcome, d.Reason)
	}
}

func TestCORSPreflight(t *testing.T) {
	preflight := func() *Request {
		return req("OPTIONS", "Origin", "https://web.example.test", "Access-Control-Request-Method", "POST")
	}
	if d := newTestEnv(t, true, nil).decide(preflight()); d.Outcome != Unauthenticated {
		t.Fatalf("preflight allowed by default: %v", d.Outcome)
	}
	env := newTestEnv(t, true, func(c *Config, _ *clerk.VerifyOptions) { c.AllowCORSPreflight = true })
	if d := env.decide(preflight()); d.Outcome != Allow || d.Identity.UserID != "" {
		t.Fatalf("preflight with ALLOW_CORS_PREFLIGHT: %v", d)
	}
	if d := env.decide(req("OPTIONS", "Origin", "https://web.example.test")); d.Outcome != Unauthenticated {
		t.Fatalf("OPTIONS without Access-Control-Request-Method is no preflight: %v", d.Outcome)
	}
}

func TestKeysUnavailableFailsClosed(t *testing.T) {
	env := newTestEnv(t, true, nil)
	env.fake.SetJWKSResponse(503, `{"errors":[{"code":"internal_clerk_error"}]}`)
	d := env.decide(req("GET", "Authorization", "Bearer "+env.token(nil)))
	if d.Outcome != Unavailable || d.Reason != clerk.ReasonJWKRemoteFailedToLoad {
		t.Fatalf("got %v %s", d.Outcome, d.Reason)
	}
}

func TestPublicRule(t *testing.T) {
	env := newTestEnv(t, true, nil)
	pub := func(r *Request) *Request { r.Rule = &Rule{Public: true}; return r }
	if d := env.decide(pub(browser(req("GET")))); d.Outcome != Allow || d.Identity.UserID != "" {
		t.Fatalf("anonymous on public route: %+v", d)
	}
	if d := env.decide(pub(req("GET", "Authorization", "Bearer "+env.token(nil)))); d.Outcome != Allow || d.Identity.UserID != "user_1" {
		t.Fatalf("signed in on public route: %+v", d)
	}
	if d := env.decide(pub(req("GET", "Authorization", "Bearer garbage"))); d.Outcome != Allow || d.Identity.UserID != "" || d.Reason != clerk.ReasonTokenInvalid {
		t.Fatalf("bad token on public route: %+v", d)
	}
}

// TestClerkQueryParametersAreReadLikeURLSearchParams: the SDK reads
// __clerk_handshake_nonce, __clerk_handshake and __clerk_db_jwt with
// URLSearchParams, which keeps a bad percent escape or a ';' in the value;
// Go's url.Query drops such a pair, and the request would then pass on
// its cookies where the SDK signs it out or hand-shakes.
func TestClerkQueryParametersAreReadLikeURLSearchParams(t *testing.T) {
	uat := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	tests := []struct {
		name       string
		production bool
		query      string
		navigation bool
		outcome    Outcome
		reason     clerk.Reason
	}{
		{"nonce with a bad escape", true, "__clerk_handshake_nonce=abc%zz", false, Unauthenticated, clerk.ReasonSessionTokenMissing},
		{"nonce with a semicolon", true, "__clerk_handshake_nonce=a;b", false, Unauthenticated, clerk.ReasonSessionTokenMissing},
		{"nonce with a bad escape, development", false, "__clerk_handshake_nonce=abc%zz", false, Handshake, clerk.ReasonSessionTokenMissing}, // back to the URL without it
		{"dev-browser token with a bad escape, API", false, "__clerk_db_jwt=abc%zz", false, Unauthenticated, clerk.ReasonDevBrowserSync},
		{"dev-browser token with a semicolon, navigation", false, "__clerk_db_jwt=a;b", true, Handshake, clerk.ReasonDevBrowserSync},
		{"a valid escape still reads as before", true, "x=%41", false, Allow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.production, nil)
			cookie := "__session=" + env.token(nil) + "; __client_uat=" + uat
			if !tt.production {
				cookie += "; __clerk_db_jwt=dvb_1"
			}
			r := req("GET", "Cookie", cookie)
			r.URL = mustURL("https://app.example.test/dashboard?" + tt.query)
			if tt.navigation {
				r = browser(r)
			}
			d := env.decide(r)
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Fatalf("got %v/%q (%s), want %v/%q", d.Outcome, d.Reason, d.Message, tt.outcome, tt.reason)
			}
		})
	}
}
