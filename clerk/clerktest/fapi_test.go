package clerktest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

type fapiEnv struct {
	fake     *clerktest.Server
	verifier *clerk.Verifier
	api      *clerk.API
}

func newFAPIEnv(t *testing.T, production bool) *fapiEnv {
	t.Helper()
	fake := clerktest.Start(t, clerktest.Options{Production: production})
	api, err := clerk.NewAPI(fake.URL, "v1", fake.SecretKey, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fapiEnv{fake: fake, api: api, verifier: clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})}
}

// handshake calls GET /v1/client/handshake as a browser would, without
// following the redirect.
func (e *fapiEnv) handshake(t *testing.T, query url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", e.fake.URL+"/v1/client/handshake?"+query.Encode(), nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// directives reads the handshake the fake handed back (token or nonce,
// query or cookie) and returns its Set-Cookie directives.
func (e *fapiEnv) directives(t *testing.T, resp *http.Response) (directives []string, form string) {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for k := range loc.Query() {
		values[k] = loc.Query().Get(k)
	}
	for _, c := range resp.Cookies() {
		values[c.Name] = c.Value
	}
	if n := values["__clerk_handshake_nonce"]; n != "" {
		d, err := e.api.HandshakePayload(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		return d, "nonce"
	}
	d, err := e.verifier.VerifyHandshake(context.Background(), values["__clerk_handshake"])
	if err != nil {
		t.Fatalf("handshake token: %v", err)
	}
	return d, "token"
}

func sessionOf(directives []string) string {
	tok := ""
	for _, d := range directives {
		if strings.HasPrefix(clerk.DirectiveName(d), "__session") {
			tok = clerk.DirectiveValue(d)
		}
	}
	return tok
}

func TestFakeFAPIProductionSignedInBrowserGetsSessionCookiesInAHandshakeCookie(t *testing.T) {
	e := newFAPIEnv(t, true)
	client := e.fake.SignInBrowser("user_42")
	if client.Name != "__client" {
		t.Fatalf("production credential %q", client.Name)
	}
	resp := e.handshake(t, url.Values{"redirect_url": {"http://app.test/a?b=1"}, "suffixed_cookies": {"false"}, "format": {"nonce"}}, client)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://app.test/a?b=1" {
		t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	d, form := e.directives(t, resp)
	if form != "token" {
		t.Fatalf("small payload came as %s", form)
	}
	claims, err := e.verifier.VerifyToken(context.Background(), sessionOf(d))
	if err != nil || claims.Subject != "user_42" {
		t.Fatalf("session: %v", err)
	}
	if got := e.fake.HandshakeRequests(); len(got) != 1 || got[0].Get("redirect_url") != "http://app.test/a?b=1" {
		t.Fatalf("recorded %v", got)
	}
}

func TestFakeFAPISuffixedCookiesAddTwinsAndTheLastSessionWins(t *testing.T) {
	e := newFAPIEnv(t, true)
	resp := e.handshake(t, url.Values{"redirect_url": {"http://app.test/"}, "suffixed_cookies": {"true"}}, e.fake.SignInBrowser("user_1"))
	d, _ := e.directives(t, resp)
	sfx := e.fake.CookieSuffix()
	var names []string
	for _, x := range d {
		names = append(names, clerk.DirectiveName(x))
	}
	want := []string{"__clerk_handshake", "__clerk_handshake_nonce", "__session", "__client_uat", "__session_" + sfx, "__client_uat_" + sfx, "__refresh_" + sfx}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("names %v, want %v", names, want)
	}
	if sfx != clerk.CookieSuffix(e.fake.PublishableKey) {
		t.Fatalf("suffix %s differs from clerk.CookieSuffix", sfx)
	}
}

func TestFakeFAPIDevelopmentAnswersInTheQueryAndSetsTheDevBrowser(t *testing.T) {
	e := newFAPIEnv(t, false)
	db := e.fake.SignInBrowser("user_7")
	if db.Name != "__clerk_db_jwt" {
		t.Fatalf("development credential %q", db.Name)
	}
	resp := e.handshake(t, url.Values{"redirect_url": {"http://app.test/x"}, "__clerk_db_jwt": {db.Value}, "format": {"nonce"}})
	if len(resp.Cookies()) != 0 {
		t.Fatal("development handshake set a cookie on the FAPI domain")
	}
	d, form := e.directives(t, resp)
	if form != "token" || !strings.HasPrefix(resp.Header.Get("Location"), "http://app.test/x?__clerk_handshake=") {
		t.Fatalf("form %s, Location %q", form, resp.Header.Get("Location"))
	}
	if last := d[len(d)-1]; !strings.HasPrefix(last, "__clerk_db_jwt="+db.Value+";") {
		t.Fatalf("dev browser directive %q", last)
	}
	if _, err := e.verifier.VerifyToken(context.Background(), sessionOf(d)); err != nil {
		t.Fatal(err)
	}
}

func TestFakeFAPINonceFormAndSignedOutBrowsers(t *testing.T) {
	e := newFAPIEnv(t, false)
	e.fake.SetHandshakeFormat(clerktest.HandshakeNonce)
	db := e.fake.SignInBrowser("user_7")
	e.fake.SignOutBrowser(db.Value)
	resp := e.handshake(t, url.Values{"redirect_url": {"http://app.test/"}, "__clerk_db_jwt": {db.Value}, "format": {"nonce"}})
	d, form := e.directives(t, resp)
	if form != "nonce" {
		t.Fatalf("form %s", form)
	}
	if sessionOf(d) != "" || !containsPrefix(d, "__client_uat=0;") {
		t.Fatalf("signed-out directives %q", d)
	}
	// Without format=nonce the fake keeps to the token.
	resp = e.handshake(t, url.Values{"redirect_url": {"http://app.test/"}, "__clerk_db_jwt": {db.Value}})
	if _, form := e.directives(t, resp); form != "token" {
		t.Fatalf("form %s without format=nonce", form)
	}
}

func TestFakeFAPIDevelopmentWithoutDevBrowserMintsOne(t *testing.T) {
	e := newFAPIEnv(t, false)
	resp := e.handshake(t, url.Values{"redirect_url": {"http://app.test/"}})
	d, _ := e.directives(t, resp)
	if !containsPrefix(d, "__clerk_db_jwt=dvb_") || sessionOf(d) != "" {
		t.Fatalf("directives %q", d)
	}
}

func TestFakeFAPIRefusesRelativeRedirectURL(t *testing.T) {
	e := newFAPIEnv(t, true)
	for _, bad := range []string{"", "/relative", "javascript:alert(1)"} {
		if resp := e.handshake(t, url.Values{"redirect_url": {bad}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d", bad, resp.StatusCode)
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// A production satellite's handshake goes through the primary's Frontend
// API, which links the browser's client; the session it then mints is the
// satellite's own (iss https://clerk.<domain>). A sync towards a host that
// is not one of the instance's satellites is refused.
func TestSatelliteHandshakeLinksThroughThePrimary(t *testing.T) {
	e := newFAPIEnv(t, true)
	e.fake.AddSatelliteDomain("example.org")
	client := e.fake.SignInBrowser("user_sat")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u, host string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Host = host
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	q := url.Values{"redirect_url": {"https://example.org/p?__clerk_synced=false"}, "__clerk_hs_reason": {"satellite-needs-syncing"}}
	// 1. The satellite's Frontend API has no client: off to the primary.
	resp := get(e.fake.URL+"/v1/client/handshake?"+q.Encode(), "clerk.example.org")
	sync, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusTemporaryRedirect || sync.Host != e.fake.FAPIHost || sync.Path != "/v1/client/sync" {
		t.Fatalf("%d to %s", resp.StatusCode, sync)
	}
	// 2. The primary reads its __client cookie and links it back.
	resp = get(e.fake.URL+sync.RequestURI(), e.fake.FAPIHost, client)
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusTemporaryRedirect || back.Host != "clerk.example.org" {
		t.Fatalf("%d to %s", resp.StatusCode, back)
	}
	// 3. The satellite's handshake, linked, hands the cookies back.
	resp = get(e.fake.URL+back.RequestURI(), "clerk.example.org")
	dirs, _ := e.directives(t, resp)
	jwt, err := clerk.DecodeJWT(sessionOf(dirs))
	if err != nil || jwt.Claims.Issuer != "https://clerk.example.org" || jwt.Claims.Subject != "user_sat" {
		t.Fatalf("session %v %+v", err, jwt)
	}
	// A sync towards any other host is refused.
	evil := url.Values{"redirect_url": {"https://clerk.evil.test/v1/client/handshake"}}
	if resp := get(e.fake.URL+"/v1/client/sync?"+evil.Encode(), e.fake.FAPIHost, client); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("sync to another host: %d", resp.StatusCode)
	}
}
