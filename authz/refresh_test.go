package authz

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/internal/testclock"
)

// refreshEnv is an engine with server-side refresh against a fake Clerk,
// on a clock the test moves (shared by the engine, its verifier and the
// fake, so tokens the fake mints "later" are valid "later").
type refreshEnv struct {
	fake    *clerktest.Server
	api     *clerk.API
	engine  *Engine
	suffix  string
	session clerktest.Session
	clk     *testclock.Clock
}

func newRefreshEnv(t *testing.T, production bool, opts Options) *refreshEnv {
	t.Helper()
	e := &refreshEnv{clk: testclock.New(time.Now())}
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: production, Now: e.clock})
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: e.clock})
	if opts.Refresher == nil {
		opts.Refresher = api
	}
	e.fake, e.api, e.suffix = fake, api, clerk.CookieSuffix(fake.PublishableKey)
	e.engine = NewEngine(Config{PublishableKey: pk, ProxyURL: fake.URL, Now: e.clock}, v, opts)
	e.session = fake.NewSession("user_r")
	return e
}

func (e *refreshEnv) clock() time.Time { return e.clk.Now() }

func (e *refreshEnv) advance(d time.Duration) { e.clk.Advance(d) }

// expired is a session token of e.session that expired a minute ago.
func (e *refreshEnv) expired(mod func(clerktest.Claims)) string {
	c := e.fake.SessionClaims(e.session.UserID)
	now := e.clock().Unix()
	c["sid"], c["iat"], c["nbf"], c["exp"] = e.session.SessionID, now-120, now-120, now-60
	if mod != nil {
		mod(c)
	}
	return e.fake.Sign(c)
}

// cookies: the plain family with the session's refresh cookie.
func (e *refreshEnv) cookies(session string) string {
	return "__session=" + session + "; __client_uat=1; __refresh_" + e.suffix + "=" + e.session.RefreshToken
}

func TestRefreshDecisions(t *testing.T) {
	type check func(t *testing.T, e *refreshEnv, d Decision)
	signedInWithCookies := func(n int) check {
		return func(t *testing.T, e *refreshEnv, d Decision) {
			if d.Outcome != Allow || d.Identity.UserID != "user_r" || d.Identity.SessionID != e.session.SessionID || len(d.SetCookies) != n {
				t.Fatalf("want allow with %d cookies: %s %q %q", n, d.Outcome, d.Reason, d.SetCookies)
			}
			for _, c := range d.SetCookies {
				if !strings.HasPrefix(c, "__session") {
					t.Fatalf("cookie %q", c)
				}
			}
		}
	}
	tests := []struct {
		name      string
		opts      Options
		setup     func(e *refreshEnv)
		request   func(e *refreshEnv) *Request
		outcome   Outcome
		reason    string
		calls     int
		check     check
		suffixedQ string
	}{
		{
			name:    "eligible API GET is refreshed and allowed",
			request: func(e *refreshEnv) *Request { return req("GET", "Cookie", e.cookies(e.expired(nil))) },
			outcome: Allow, calls: 1, check: signedInWithCookies(1),
		},
		{
			name:    "eligible navigation is refreshed without a handshake",
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Allow, calls: 1, check: signedInWithCookies(1),
		},
		{
			name: "suffixed family asks for suffixed cookies and reads the last __session",
			request: func(e *refreshEnv) *Request {
				sfx := "_" + e.suffix
				return req("GET", "Cookie", "__session"+sfx+"="+e.expired(nil)+"; __client_uat"+sfx+"=1; __client_uat=1; __refresh"+sfx+"="+e.session.RefreshToken)
			},
			outcome: Allow, calls: 1, check: signedInWithCookies(2), suffixedQ: "true",
		},
		{
			name: "expired header token with a refresh cookie is refreshed too",
			request: func(e *refreshEnv) *Request {
				return req("GET", "Authorization", "Bearer "+e.expired(nil), "Cookie", "__refresh_"+e.suffix+"="+e.session.RefreshToken)
			},
			outcome: Allow, calls: 1, check: signedInWithCookies(1),
		},
		{
			name:    "POST is not eligible",
			request: func(e *refreshEnv) *Request { return browser(req("POST", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Unauthenticated, reason: "session-token-expired-refresh-non-eligible-non-get",
		},
		{
			name:    "HEAD is not eligible",
			request: func(e *refreshEnv) *Request { return req("HEAD", "Cookie", e.cookies(e.expired(nil))) },
			outcome: Unauthenticated, reason: "session-token-expired-refresh-non-eligible-non-get",
		},
		{
			name: "no refresh cookie: handshake",
			request: func(e *refreshEnv) *Request {
				return browser(req("GET", "Cookie", "__session="+e.expired(nil)+"; __client_uat=1"))
			},
			outcome: Handshake, reason: "session-token-expired-refresh-non-eligible-no-refresh-cookie",
		},
		{
			name: "unsuffixed refresh cookie does not count",
			request: func(e *refreshEnv) *Request {
				return browser(req("GET", "Cookie", "__session="+e.expired(nil)+"; __client_uat=1; __refresh="+e.session.RefreshToken))
			},
			outcome: Handshake, reason: "session-token-expired-refresh-non-eligible-no-refresh-cookie",
		},
		{
			name: "BAPI 401 falls back to the handshake with Clerk's code",
			request: func(e *refreshEnv) *Request {
				return browser(req("GET", "Cookie", "__session="+e.expired(nil)+"; __client_uat=1; __refresh_"+e.suffix+"=wrong"))
			},
			outcome: Handshake, reason: "session-token-expired-refresh-authentication_invalid", calls: 1,
		},
		{
			name: "BAPI 401 on an API request is signed out",
			request: func(e *refreshEnv) *Request {
				return req("GET", "Cookie", "__session="+e.expired(nil)+"; __client_uat=1; __refresh_"+e.suffix+"=wrong")
			},
			outcome: Unauthenticated, reason: "session-token-expired-refresh-authentication_invalid", calls: 1,
		},
		{
			name:    "revoked session",
			setup:   func(e *refreshEnv) { e.fake.RevokeSession(e.session.SessionID) },
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-resource_not_found", calls: 1,
		},
		{
			name:    "BAPI 5xx",
			setup:   func(e *refreshEnv) { e.fake.FailWith(http.StatusInternalServerError, 0) },
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-internal_clerk_error", calls: 1,
		},
		{
			name:    "BAPI answer without errors",
			setup:   func(e *refreshEnv) { e.fake.SetRefreshResponse(http.StatusBadGateway, "text/html", "bad gateway") },
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-unexpected-bapi-error", calls: 1,
		},
		{
			name:    "network error",
			opts:    Options{Refresher: unreachableAPI(t)},
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-fetch-error",
		},
		{
			name:    "timeout",
			opts:    Options{RefreshTimeout: 50 * time.Millisecond},
			setup:   func(e *refreshEnv) { e.fake.SetLatency(300 * time.Millisecond) },
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-fetch-error", calls: 1,
		},
		{
			name: "new cookie signed by another key fails verification",
			setup: func(e *refreshEnv) {
				other, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
				c := e.fake.SessionClaims("user_r")
				c["sid"] = e.session.SessionID
				forged := clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT"}, c)
				e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":["__session=`+forged+`; Path=/"]}`)
			},
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-invalid-session-token", calls: 1,
		},
		{
			name: "new cookie already expired",
			setup: func(e *refreshEnv) {
				e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":["__session=`+e.expired(nil)+`"]}`)
			},
			request: func(e *refreshEnv) *Request { return req("GET", "Cookie", e.cookies(e.expired(nil))) },
			outcome: Unauthenticated, reason: "session-token-expired-refresh-invalid-session-token", calls: 1,
		},
		{
			name: "answer without a session cookie",
			setup: func(e *refreshEnv) {
				e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":["__client_uat=1"]}`)
			},
			request: func(e *refreshEnv) *Request { return req("GET", "Cookie", e.cookies(e.expired(nil))) },
			outcome: Unauthenticated, reason: "session-token-expired-refresh-invalid-session-token", calls: 1,
		},
		{
			name:    "empty answer",
			setup:   func(e *refreshEnv) { e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":[]}`) },
			request: func(e *refreshEnv) *Request { return req("GET", "Cookie", e.cookies(e.expired(nil))) },
			outcome: Unauthenticated, reason: "session-token-expired-refresh-unexpected-sdk-error", calls: 1,
		},
		{
			name: "expired token without sid",
			request: func(e *refreshEnv) *Request {
				return req("GET", "Cookie", e.cookies(e.expired(func(c clerktest.Claims) { delete(c, "sid") })))
			},
			outcome: Unauthenticated, reason: "session-token-expired-refresh-expired-session-token-missing-sid-claim",
		},
		{
			name: "expired token with a bad signature is never refreshed",
			request: func(e *refreshEnv) *Request {
				other, _ := clerktest.NewSigningKey(e.fake.Key().Kid)
				c := e.fake.SessionClaims("user_r")
				c["sid"], c["exp"] = e.session.SessionID, e.clock().Unix()-60
				return browser(req("GET", "Cookie", e.cookies(clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid}, c))))
			},
			outcome: SignIn, reason: "token-invalid-signature",
		},
		{
			name:    "without an API client",
			opts:    Options{Refresher: noRefresher{}},
			request: func(e *refreshEnv) *Request { return browser(req("GET", "Cookie", e.cookies(e.expired(nil)))) },
			outcome: Handshake, reason: "session-token-expired-refresh-missing-api-client",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRefreshEnv(t, true, tt.opts)
			if _, ok := tt.opts.Refresher.(noRefresher); ok {
				e.engine.refresher = nil
			}
			// Load the keys before any failure injection.
			if d := e.engine.Decide(context.Background(), req("GET", "Authorization", "Bearer "+e.fake.Sign(e.fake.SessionClaims("user_x")))); d.Outcome != Allow {
				t.Fatalf("warm-up: %s %s", d.Outcome, d.Reason)
			}
			if tt.setup != nil {
				tt.setup(e)
			}
			d := e.engine.Decide(context.Background(), tt.request(e))
			if d.Outcome != tt.outcome || string(d.Reason) != tt.reason {
				t.Fatalf("got %s %q, want %s %q (%s)", d.Outcome, d.Reason, tt.outcome, tt.reason, d.Message)
			}
			if tt.outcome != Allow && strings.Contains(strings.Join(d.SetCookies, "\n"), "__session") {
				t.Fatalf("session cookies on a failed refresh: %q", d.SetCookies)
			}
			if n := e.fake.Calls(clerktest.RouteRefreshSession); n != tt.calls {
				t.Fatalf("%d refresh calls, want %d", n, tt.calls)
			}
			calls := e.fake.RefreshCalls() // those that passed auth, rate limit and failure injection
			if len(calls) > 0 && calls[0].SuffixedCookies != tt.suffixedQ {
				t.Fatalf("suffixed_cookies=%q, want %q", calls[0].SuffixedCookies, tt.suffixedQ)
			}
			if len(calls) > 0 && (calls[0].RequestOrigin != "https://app.example.test" || calls[0].Format != "cookie" || len(calls[0].RequestHeaders["cookie"]) != 1) {
				t.Fatalf("refresh request %+v", calls[0])
			}
			if tt.check != nil {
				tt.check(t, e, d)
			}
		})
	}
}

// noRefresher marks a case that runs without an API client.
type noRefresher struct{}

func (noRefresher) RefreshSession(context.Context, clerk.RefreshRequest) ([]string, error) {
	panic("not called")
}

// unreachableAPI is a Backend API client for a port nobody listens on.
func unreachableAPI(t *testing.T) *clerk.API {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// The port must be free again, or the client would reach a listener.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	api, err := clerk.NewAPI("http://"+addr, "v1", "sk_live_x", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func TestRefreshOfAPendingSessionKeepsItsCookies(t *testing.T) {
	e := newRefreshEnv(t, true, Options{})
	c := e.fake.SessionClaims("user_r")
	c["sid"], c["sts"] = e.session.SessionID, "pending"
	e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":["__session=`+e.fake.Sign(c)+`; Path=/"]}`)
	d := e.engine.Decide(context.Background(), req("GET", "Cookie", e.cookies(e.expired(nil))))
	if d.Outcome != Unauthenticated || d.Reason != ReasonSessionPending || len(d.SetCookies) != 1 {
		t.Fatalf("%s %q %q", d.Outcome, d.Reason, d.SetCookies)
	}
}

func TestConcurrentRefreshesOfOneSessionShareOneCall(t *testing.T) {
	e := newRefreshEnv(t, true, Options{})
	e.fake.SetLatency(100 * time.Millisecond)
	cookie := e.cookies(e.expired(nil))
	var wg sync.WaitGroup
	decisions := make([]Decision, 8)
	for i := range decisions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions[i] = e.engine.Decide(context.Background(), req("GET", "Cookie", cookie))
		}()
	}
	wg.Wait()
	for i, d := range decisions {
		if d.Outcome != Allow || len(d.SetCookies) != 1 {
			t.Fatalf("request %d: %s %q", i, d.Outcome, d.Reason)
		}
	}
	if n := len(e.fake.RefreshCalls()); n != 1 {
		t.Fatalf("%d refresh calls for one expired token", n)
	}
	// A proxy that drops Set-Cookie on allow: the browser comes back with
	// the same expired token, and the answer is reused while it is valid.
	e.fake.SetLatency(0)
	if d := e.engine.Decide(context.Background(), req("GET", "Cookie", cookie)); d.Outcome != Allow || len(e.fake.RefreshCalls()) != 1 {
		t.Fatalf("again: %s %q, %d calls", d.Outcome, d.Reason, len(e.fake.RefreshCalls()))
	}
	// Once the refreshed token has expired too, Clerk is asked again.
	e.advance(2 * time.Minute)
	if d := e.engine.Decide(context.Background(), req("GET", "Cookie", cookie)); d.Outcome != Allow || len(e.fake.RefreshCalls()) != 2 {
		t.Fatalf("after expiry: %s %q, %d calls", d.Outcome, d.Reason, len(e.fake.RefreshCalls()))
	}
}

func TestRefreshNeverSendsTokensToTheLog(t *testing.T) {
	var logs strings.Builder
	e := newRefreshEnv(t, true, Options{Logger: newTextLogger(&logs)})
	e.fake.FailWith(http.StatusInternalServerError, 0)
	expired := e.expired(nil)
	e.engine.Decide(context.Background(), browser(req("GET", "Cookie", e.cookies(expired))))
	if !strings.Contains(logs.String(), "session refresh failed") {
		t.Fatalf("no log line: %s", logs.String())
	}
	if strings.Contains(logs.String(), e.session.RefreshToken) || strings.Contains(logs.String(), expired) {
		t.Fatalf("a token reached the log: %s", logs.String())
	}
}

// browserJar is a browser: a cookie jar for the app's origin, and the
// Frontend API credential it shows the fake's handshake.
type browserJar struct {
	jar        *cookiejar.Jar
	credential *http.Cookie
}

func (b *browserJar) request(e *refreshEnv, rawURL string) *Request {
	u := mustURL(rawURL)
	var pairs []string
	for _, c := range b.jar.Cookies(u) {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	r := browser(&Request{Method: "GET", URL: u, Header: http.Header{}})
	if len(pairs) > 0 {
		r.Header.Set("Cookie", strings.Join(pairs, "; "))
	}
	return r
}

func (b *browserJar) store(t *testing.T, rawURL string, setCookies []string) {
	t.Helper()
	var cs []*http.Cookie
	for _, sc := range setCookies {
		c, err := http.ParseSetCookie(sc)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", sc, err)
		}
		cs = append(cs, c)
	}
	b.jar.SetCookies(mustURL(rawURL), cs)
}

// visit navigates to rawURL as a browser does, following handshakes
// through the fake Frontend API, and returns the final decision and how
// many handshakes it took.
func (b *browserJar) visit(t *testing.T, e *refreshEnv, rawURL string) (Decision, int) {
	t.Helper()
	handshakes := 0
	for hop := 0; hop < 6; hop++ {
		d := e.engine.Decide(context.Background(), b.request(e, rawURL))
		b.store(t, rawURL, d.SetCookies)
		if d.Outcome != Handshake {
			return d, handshakes
		}
		if !strings.HasPrefix(d.Location, e.fake.URL+"/v1/client/handshake?") {
			rawURL = d.Location // completion: back to the clean URL
			continue
		}
		handshakes++
		// Production FAPI answers with a __clerk_handshake cookie on the
		// eTLD+1, which the app's origin then sees.
		hreq, _ := http.NewRequest("GET", d.Location, nil)
		hreq.AddCookie(b.credential)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		b.store(t, rawURL, resp.Header.Values("Set-Cookie"))
		rawURL = resp.Header.Get("Location")
	}
	t.Fatal("too many hops")
	return Decision{}, 0
}

func TestBrowserStaysSignedInAcrossTokenExpiryWithoutAHandshake(t *testing.T) {
	e := newRefreshEnv(t, true, Options{})
	jar, _ := cookiejar.New(nil)
	b := &browserJar{jar: jar, credential: e.fake.CredentialCookie(e.session)}
	const page = "https://app.example.test/dashboard?tab=1"
	// A returning browser: Clerk's __client_uat says signed in, but there
	// is no session token yet on this origin.
	b.store(t, page, []string{"__client_uat=1; Path=/"})

	d, hs := b.visit(t, e, page)
	if d.Outcome != Allow || d.Identity.UserID != "user_r" || hs != 1 {
		t.Fatalf("first visit: %s %q after %d handshakes", d.Outcome, d.Reason, hs)
	}
	if b.cookie(page, "__refresh_"+e.suffix) != e.session.RefreshToken {
		t.Fatal("the handshake did not set the refresh cookie")
	}
	for i := 1; i <= 3; i++ {
		e.advance(90 * time.Second) // the 60-second token has expired
		before := b.cookie(page, "__session")
		d, hs = b.visit(t, e, page)
		if d.Outcome != Allow || d.Identity.UserID != "user_r" || hs != 0 {
			t.Fatalf("after expiry %d: %s %q after %d handshakes", i, d.Outcome, d.Reason, hs)
		}
		if len(e.fake.RefreshCalls()) != i || b.cookie(page, "__session") == before {
			t.Fatalf("after expiry %d: %d refresh calls, session cookie replaced: %v", i, len(e.fake.RefreshCalls()), b.cookie(page, "__session") != before)
		}
		// Within the new token's life no further call is made.
		if d, _ = b.visit(t, e, page); d.Outcome != Allow || len(d.SetCookies) != 0 || len(e.fake.RefreshCalls()) != i {
			t.Fatalf("fresh token: %s %q %q", d.Outcome, d.Reason, d.SetCookies)
		}
	}
	// Signed out elsewhere: the refresh fails, the handshake signs the
	// browser out, and it is sent to sign in.
	e.fake.RevokeSession(e.session.SessionID)
	e.advance(90 * time.Second)
	d, hs = b.visit(t, e, page)
	if d.Outcome != SignIn || hs != 1 {
		t.Fatalf("revoked: %s %q after %d handshakes", d.Outcome, d.Reason, hs)
	}
	if b.cookie(page, "__refresh_"+e.suffix) != "" {
		t.Fatal("refresh cookie kept after sign-out")
	}
}

func (b *browserJar) cookie(rawURL, name string) string {
	for _, c := range b.jar.Cookies(mustURL(rawURL)) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestRequestHeadersAreSentAsTheSDKSendsThem(t *testing.T) {
	h := http.Header{}
	h.Add("Accept", "text/html")
	h.Add("Accept", "application/json")
	h.Add("Cookie", "a=1")
	h.Add("Cookie", "b=2")
	h.Add("User-Agent", "ua")
	got := requestHeaders(h)
	want := map[string]string{"accept": "text/html, application/json", "cookie": "a=1; b=2", "user-agent": "ua"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v {
			t.Fatalf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// panicOnce panics on its first refresh, then refreshes through the API.
type panicOnce struct {
	api   *clerk.API
	calls atomic.Int32
}

func (p *panicOnce) RefreshSession(ctx context.Context, r clerk.RefreshRequest) ([]string, error) {
	if p.calls.Add(1) == 1 {
		panic("refresher bug")
	}
	return p.api.RefreshSession(ctx, r)
}

// TestRefreshSurvivesAPanickingRefresher: a refresher that panics fails
// that refresh (handshake with unexpected-bapi-error, never an allow)
// without wedging the session: the next request for it refreshes at once
// rather than waiting on a call that will never finish.
func TestRefreshSurvivesAPanickingRefresher(t *testing.T) {
	p := &panicOnce{}
	e := newRefreshEnv(t, true, Options{Refresher: p, RefreshTimeout: time.Minute})
	p.api = e.api
	request := func() Decision {
		return e.engine.Decide(context.Background(), browser(req("GET", "Cookie", e.cookies(e.expired(nil)))))
	}
	d := request()
	if d.Outcome != Handshake || d.Reason != "session-token-expired-refresh-unexpected-bapi-error" {
		t.Fatalf("first request: %s %q, want a handshake for the failed refresh", d.Outcome, d.Reason)
	}
	done := make(chan Decision, 1)
	go func() { done <- request() }()
	select {
	case d = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the second refresh of the session is stuck behind the panicked one")
	}
	if d.Outcome != Allow || d.Identity.SessionID != e.session.SessionID {
		t.Fatalf("second request: %s %q, want allow", d.Outcome, d.Reason)
	}
}
