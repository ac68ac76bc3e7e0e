//go:build e2e

package integrations

// Server-side session refresh through each proxy: the service allows the
// request with Clerk's new cookies as Set-Cookie, and each proxy passes on
// what it can. The expectations below are what each proxy does, so the test
// documents reality (see each proxy's README).

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// refreshedCookiesPassed names the service's refresh cookies each proxy
// hands to the browser on allow ("<suffix>" stands for the instance's).
var refreshedCookiesPassed = map[string][]string{
	// addAuthCookiesToResponse lists both names.
	"traefik": {"__session", "__session_<suffix>"},
	// Only the first Set-Cookie of an auth subrequest survives.
	"nginx": {"__session"},
	// forward_auth's copy_headers only feeds the request to the app.
	"caddy": nil,
	// allowed_client_headers_on_success: set-cookie.
	"envoy": {"__session", "__session_<suffix>"},
	// The service sends them in ok_response.response_headers_to_add.
	"envoy-grpc": {"__session", "__session_<suffix>"},
}

// scenarioRefresh: a browser using Clerk's suffixed cookies, whose session
// token has expired, opens a page with its __refresh_<suffix> cookie. The
// service refreshes the session through the Backend API, the app gets the
// identity, and the browser gets the new token where the proxy passes it;
// its next request must then need no refresh at all. Where nothing is
// passed, the next request is refreshed again, from the service's memory
// (no second Backend API call).
func scenarioRefresh(t *testing.T, p *proxyUnderTest) {
	want, ok := refreshedCookiesPassed[p.name]
	if !ok {
		t.Fatalf("no refresh expectation for proxy %q", p.name)
	}
	fake := p.svc.Fake
	sfx := fake.CookieSuffix()
	want = slices.Clone(want)
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "<suffix>", sfx)
	}
	user := clerktest.NewID("user")
	sess := fake.NewSession(user)
	expired := p.svc.claims(user)
	expired["sid"] = sess.SessionID
	now := time.Now().Unix()
	expired["iat"], expired["nbf"], expired["exp"] = now-600, now-605, now-540
	oldToken := p.svc.token(expired)
	uat := strconv.FormatInt(now-3600, 10)
	jar := map[string]string{
		"__client_uat": uat, "__client_uat_" + sfx: uat,
		"__session": oldToken, "__session_" + sfx: oldToken,
		fake.RefreshCookieName(): sess.RefreshToken,
	}
	calls := len(fake.RefreshCalls())

	// The app sets a cookie of its own: it must survive next to ours.
	r := p.send(t, "GET", "/dashboard", browser("Cookie", cookieHeader(jar), appSetCookieHeader, "app_pref=dark; Path=/"), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": sess.SessionID})
	if got := fake.RefreshCalls(); len(got) != calls+1 || got[len(got)-1].SessionID != sess.SessionID || got[len(got)-1].SuffixedCookies != "true" {
		t.Fatalf("Backend API refresh calls: %d new (%+v), want one for %s with suffixed_cookies=true\n%s", len(got)-calls, got[calls:], sess.SessionID, r)
	}
	calls++

	// What the service answered: Clerk's cookies, in Clerk's order.
	served := cookiesOf(r.auth[0].RespHeader)
	if names := cookieNames(served); !slices.Equal(names, []string{"__session", "__session_" + sfx}) {
		t.Fatalf("service's 200 set cookies %v, want __session and __session_%s\n%s", names, sfx, r)
	}
	newToken := served[0].Value
	if newToken == oldToken || served[1].Value != newToken {
		t.Fatalf("service's cookies do not carry one new token\n%s", r)
	}

	// What the browser got.
	got := cookiesOf(r.header)
	var passed []string
	for _, c := range got {
		switch {
		case c.Name == "app_pref":
		case c.Value == newToken && c.Path == "/" && c.SameSite == http.SameSiteLaxMode:
			passed = append(passed, c.Name)
		default:
			t.Errorf("browser got an unexpected cookie %s (path %q)", c.Name, c.Path)
		}
	}
	if !slices.Equal(passed, want) {
		t.Errorf("%s passed the refreshed cookies %v to the browser, want %v\n%s", p.name, passed, want, r)
	}
	if !slices.Contains(cookieNames(got), "app_pref") {
		t.Errorf("the app's own cookie was lost: browser got %v", cookieNames(got))
	}

	// The browser's next request, with whatever it was given.
	for _, c := range got {
		if c.Name != "app_pref" {
			jar[c.Name] = c.Value
		}
	}
	r = p.send(t, "GET", "/dashboard", browser("Cookie", cookieHeader(jar)), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": sess.SessionID})
	if n := len(fake.RefreshCalls()); n != calls {
		t.Errorf("the next request made %d more Backend API refresh calls, want none", n-calls)
	}
	again := cookieNames(cookiesOf(r.auth[0].RespHeader))
	if len(want) > 0 && len(again) != 0 {
		// One fresh session cookie is enough: the service, like Clerk's
		// SDK, reads the unsuffixed pair when __session is newer.
		t.Errorf("with the refreshed cookie in the browser the service still set %v: it refreshed again", again)
	}
	if len(want) == 0 && len(again) == 0 {
		t.Errorf("the browser kept its expired token, yet the service allowed without refreshing")
	}
}

// cookieHeader renders a Cookie header in a stable order.
func cookieHeader(jar map[string]string) string {
	names := make([]string, 0, len(jar))
	for k := range jar {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + jar[k]
	}
	return strings.Join(parts, "; ")
}

// cookiesOf parses the Set-Cookie headers of h, in order.
func cookiesOf(h http.Header) []*http.Cookie {
	return (&http.Response{Header: h}).Cookies()
}

func cookieNames(cs []*http.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
