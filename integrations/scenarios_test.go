//go:build e2e

package integrations

// The scenario table every proxy runs. A scenario drives the real proxy
// with a client request and checks three things: what the client got, what
// the upstream app saw (or that it saw nothing), and what the service was
// asked (through the auth tap).

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// The identity headers, as the contract names them.
var identityHeaders = []string{
	"X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Org-Id", "X-Auth-Org-Slug",
	"X-Auth-Org-Role", "X-Auth-Org-Permissions", "X-Auth-Actor-Id",
	"X-Auth-Token-Type", "X-Auth-Machine-Id", "X-Auth-Token-Id", "X-Auth-Scopes", "X-Auth-Client-Id",
}

// Dialects of the service's endpoints.
const (
	dialectAuthRequest = "auth-request"   // NGINX
	dialectForwardAuth = "forward-auth"   // Traefik, Caddy
	dialectExtAuthz    = "ext-authz"      // Envoy
	dialectGRPC        = "ext-authz-grpc" // Envoy, gRPC mode
)

// proxyUnderTest is one running proxy with its app, service and tap.
type proxyUnderTest struct {
	name    string
	dialect string
	base    string // http://127.0.0.1:port
	svc     *service
	tap     interface{ byID(string) []seenRequest } // auth requests and answers
	app     *upstream
	// launchDown starts another instance of the same config whose auth
	// address has nothing listening, and returns its base URL.
	launchDown func(t *testing.T) string
}

type scenario struct {
	name string
	run  func(t *testing.T, p *proxyUnderTest)
}

// scenarios is the shared table. Keep it in step with README.md.
var scenarios = slices.Concat([]scenario{
	{"no credentials, API request: 401 JSON", scenarioAnonymousAPI},
	{"no credentials, browser navigation: redirect to sign-in", scenarioAnonymousBrowser},
	{"valid Bearer token: 200 with identity", scenarioValidBearer},
	{"valid __session cookie: 200 with identity", scenarioValidCookie},
	{"expired token: 401", scenarioExpired},
	{"wrong azp: 401", scenarioWrongAzp},
	{"org route, user not in org: 403", scenarioForbiddenOrg},
	{"org route, member: 200 with org headers", scenarioAllowedOrg},
	{"client X-Auth-* with another user's valid token: only ours reach the app", scenarioSpoofWithToken},
	{"client X-Auth-* without token on a protected route: denied", scenarioSpoofNoTokenProtected},
	{"client X-Auth-* without token on a public route: nothing reaches the app", scenarioSpoofNoTokenPublic},
	{"underscore variants X_Auth_User_Id: never reach the app", scenarioUnderscore},
	{"client X-Forwarded-*/X-Original-* do not change the decision", scenarioForwardedSpoof},
	{"original method and URL reach the service (POST, query, encoded path)", scenarioOriginalRequest},
	{"encoded path and query survive into redirect_url", scenarioRedirectURLExact},
	{"ambiguous encoded path (%2F, %2e): refused, never reaches the app", scenarioAmbiguousPath},
	{"WebSocket upgrade with a valid token", scenarioWebSocket},
	{"WebSocket upgrade without a token: denied", scenarioWebSocketAnonymous},
	{"handshake round trip with a cookie jar", scenarioHandshake},
	{"expired session with __refresh cookie: refreshed server-side, cookies as each proxy passes them", scenarioRefresh},
	{"service down: 5xx, never through", scenarioServiceDown},
	// Clerk's webhooks (webhook_test.go), POSTed to the app's host at
	// /_auth/webhooks/clerk as Svix delivers them. Not last: after refusing
	// a large body the service's net/http lingers 500 ms on that connection
	// before closing it, which would delay its shutdown at the test's end.
	{"webhook session.revoked/ended/removed: that session 401 session-revoked at once, another still 200", scenarioWebhookSessionEnded},
	{"webhook organizationMembership.deleted: org route 403 at once, not after the cache TTL", scenarioWebhookMembershipDeleted},
	{"forged webhook (other secret, rewritten body, unsigned): 401, nothing applied", scenarioWebhookForged},
	{"webhook body over the limit: refused, never applied; just under: applied", scenarioWebhookBodyLimit},
}, machineScenarios, entitlementScenarios)

// machineScenarios are the rows of machine credentials (machine_test.go):
// /jobs/ accepts API keys and M2M tokens, /reports/ API keys with the scope
// reports:read.
var machineScenarios = []scenario{
	{"API keys and M2M tokens (opaque, JWT) on a machine route: 200 with machine identity", scenarioMachineAllowed},
	{"credential of a type the route does not accept: 401 token-type-mismatch", scenarioMachineTypeMismatch},
	{"API key without the route's scope: 403 scope-missing", scenarioMachineScopeMissing},
	{"revoked API key: 401, never seen or after the cache TTL", scenarioMachineRevoked},
	{"client X-Auth-Token-Type/Machine-Id/Scopes with a machine credential: only ours reach the app", scenarioMachineSpoof},
}

// entitlementScenarios are the rows of rules on the session token's claims
// (entitlement_test.go): /billing/ reverification=strict, /export/
// feature=export&plan=o:team.
var entitlementScenarios = []scenario{
	{"reverification=strict, fva [5,-1] or [30,2]: 200 with identity", scenarioReverificationFresh},
	{"reverification=strict, fva [30,-1]/[1,30]/[-1,-1]: 403, Clerk's reverification body byte for byte", scenarioReverificationStale},
	{"feature=export&plan=o:team, fea o:export and pla o:team: 200 with identity", scenarioBillingAllowed},
	{"feature or plan missing: 403 feature-missing / plan-missing", scenarioBillingMissing},
}

// runScenarios runs table against p.
func runScenarios(t *testing.T, p *proxyUnderTest, table []scenario) {
	for _, s := range table {
		t.Run(s.name, func(t *testing.T) { s.run(t, p) })
	}
}

// ---- requests ---------------------------------------------------------

// result is the client's view plus what the app and the service saw.
type result struct {
	id     string
	status int
	header http.Header
	body   string
	app    []seenRequest // requests the app got for this id
	auth   []seenRequest // auth requests (with the service's answers)
}

func newTestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// noRedirectClient never follows redirects and keeps no cookies.
var noRedirectClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
}

// send makes one request through the proxy to target (a raw request URI:
// path and query exactly as they go on the wire) with Host publicHost.
func (p *proxyUnderTest) send(t *testing.T, method, target string, hdr http.Header, body string) result {
	t.Helper()
	return p.sendTo(t, p.base, method, target, hdr, body)
}

func (p *proxyUnderTest) sendTo(t *testing.T, base, method, target string, hdr http.Header, body string) result {
	t.Helper()
	id := newTestID()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = &url.URL{Scheme: u.Scheme, Host: u.Host, Opaque: target} // sent verbatim
	req.Host = publicHost
	for k, v := range hdr {
		req.Header[k] = v // raw keys: X_Auth_User_Id stays as written
	}
	req.Header.Set(testIDHeader, id)
	res, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	r := result{id: id, status: res.StatusCode, header: res.Header, body: string(b)}
	// The app and tap record before answering; nothing to wait for.
	r.app = p.app.byID(id)
	if p.tap != nil {
		r.auth = p.tap.byID(id)
	}
	return r
}

func (r result) String() string {
	return fmt.Sprintf("client got %d %v %q; app saw %d request(s); service asked %d time(s)%s",
		r.status, r.header, r.body, len(r.app), len(r.auth), r.authSummary())
}

func (r result) authSummary() string {
	var b strings.Builder
	for _, a := range r.auth {
		fmt.Fprintf(&b, "\n  auth: %s %s Host=%s -> %d %v %q", a.Method, a.RequestURI, a.Host, a.Status, a.RespHeader, a.RespBody)
	}
	return b.String()
}

// hdr builds a header map from key/value pairs without canonicalising keys.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

func bearer(tok string) http.Header {
	return hdr("Authorization", "Bearer "+tok, "Accept", "application/json")
}

// browser is what a browser sends on a top-level navigation.
func browser(kv ...string) http.Header {
	return hdr(append([]string{
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Sec-Fetch-Dest", "document",
		"Sec-Fetch-Mode", "navigate",
		"Sec-Fetch-Site", "none",
		"User-Agent", "Mozilla/5.0 (e2e)",
	}, kv...)...)
}

// ---- assertions -------------------------------------------------------

// identityAt collects every header whose name, lower-cased with "_" and
// "." read as "-", is an identity header: what an app framework that
// normalises names would see.
func identityAt(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
		for _, id := range identityHeaders {
			if n == strings.ToLower(id) {
				out[id] = append(out[id], v...)
			}
		}
	}
	return out
}

// wantIdentity checks that the app saw exactly want (header -> value) and,
// for every other identity header, nothing or an empty value. A session's
// identity (X-Auth-Session-Id in want) also carries X-Auth-Token-Type
// session_token unless want names another.
func wantIdentity(t *testing.T, r result, want map[string]string) {
	t.Helper()
	if len(r.app) != 1 {
		t.Fatalf("app saw %d requests, want 1\n%s", len(r.app), r)
	}
	if want["X-Auth-Session-Id"] != "" && want["X-Auth-Token-Type"] == "" {
		want = maps.Clone(want)
		want["X-Auth-Token-Type"] = "session_token"
	}
	got := identityAt(r.app[0].Header)
	for _, name := range identityHeaders {
		vals := got[name]
		if w := want[name]; w != "" {
			if len(vals) != 1 || vals[0] != w {
				t.Errorf("app saw %s = %q, want exactly [%q]\napp headers: %v", name, vals, w, r.app[0].Header)
			}
			continue
		}
		for _, v := range vals {
			if v != "" {
				t.Errorf("app saw %s = %q, want nothing (or empty)\napp headers: %v", name, vals, r.app[0].Header)
				break
			}
		}
	}
}

func wantStatus(t *testing.T, r result, codes ...int) {
	t.Helper()
	if !slices.Contains(codes, r.status) {
		t.Fatalf("status %d, want one of %v\n%s", r.status, codes, r)
	}
}

func wantAppUntouched(t *testing.T, r result) {
	t.Helper()
	if len(r.app) != 0 {
		t.Fatalf("the app was reached (%d requests) but must not be\n%s", len(r.app), r)
	}
}

// wantServiceAllowed checks the service's own 200: every identity header
// present (possibly empty) and, for Envoy, the empty ones listed in
// x-envoy-auth-headers-to-remove (in gRPC mode, as the tap records it:
// headers_to_remove).
func wantServiceAllowed(t *testing.T, p *proxyUnderTest, r result) {
	t.Helper()
	if len(r.auth) != 1 {
		t.Fatalf("service asked %d times, want 1\n%s", len(r.auth), r)
	}
	a := r.auth[0]
	if a.Status != http.StatusOK {
		t.Fatalf("service answered %d, want exactly 200\n%s", a.Status, r)
	}
	var empty []string
	for _, name := range identityHeaders {
		v, ok := a.RespHeader[http.CanonicalHeaderKey(name)]
		if !ok || len(v) != 1 {
			t.Errorf("service's 200 has %s = %q, want exactly one value (empty when n/a)", name, v)
			continue
		}
		if v[0] == "" {
			empty = append(empty, strings.ToLower(name))
		}
	}
	if p.dialect == dialectExtAuthz || p.dialect == dialectGRPC {
		var listed []string
		for _, part := range strings.Split(a.RespHeader.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
			if s := strings.ToLower(strings.TrimSpace(part)); s != "" {
				listed = append(listed, s)
			}
		}
		slices.Sort(listed)
		slices.Sort(empty)
		if !slices.Equal(listed, empty) {
			t.Errorf("x-envoy-auth-headers-to-remove = %v, want the empty identity headers %v", listed, empty)
		}
	}
}

// wantSignInRedirect checks a redirect to Clerk (sign-in or handshake) whose
// redirect_url is exactly originalURL.
func wantSignInRedirect(t *testing.T, p *proxyUnderTest, r result, originalURL string) {
	t.Helper()
	if p.dialect == dialectAuthRequest {
		// NGINX: the service's 401 + Location, turned into 302 by the
		// error_page named location.
		wantStatus(t, r, http.StatusFound)
	} else {
		wantStatus(t, r, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect)
	}
	wantAppUntouched(t, r)
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || loc.Host == "" {
		t.Fatalf("Location %q is not an absolute URL: %v\n%s", r.header.Get("Location"), err, r)
	}
	fapi := p.svc.Fake.FAPIHost
	accounts := strings.Replace(fapi, "clerk.", "accounts.", 1)
	if loc.Host != fapi && loc.Host != accounts {
		t.Errorf("Location host %q, want Clerk's %q or %q", loc.Host, fapi, accounts)
	}
	if got := loc.Query().Get("redirect_url"); got != originalURL {
		t.Errorf("redirect_url = %q, want the original URL %q\nLocation: %s", got, originalURL, loc)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store on a redirect to Clerk", cc)
	}
}

// ---- scenarios --------------------------------------------------------

func scenarioAnonymousAPI(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/dashboard?tab=1", hdr("Accept", "application/json"), "")
	wantStatus(t, r, http.StatusUnauthorized)
	wantAppUntouched(t, r)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q, want application/json\n%s", r.header.Get("Content-Type"), r)
	}
	if !strings.Contains(r.body, `"error"`) {
		t.Errorf("body %q is not our JSON error", r.body)
	}
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q, want Bearer", r.header.Values("WWW-Authenticate"))
	}
	if n := len(r.header.Values("WWW-Authenticate")); n > 1 {
		t.Errorf("%d WWW-Authenticate headers, want 1: %q", n, r.header.Values("WWW-Authenticate"))
	}
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.TrimSpace(c) == "" {
			t.Errorf("empty Set-Cookie header")
		}
	}
}

func scenarioAnonymousBrowser(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/dashboard?tab=1", browser(), "")
	wantSignInRedirect(t, p, r, publicOrigin+"/dashboard?tab=1")
}

func scenarioValidBearer(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	r := p.send(t, "GET", "/dashboard", bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
	if r.header.Get("X-Upstream") != "app" {
		t.Errorf("the answer did not come from the app: %v", r.header)
	}
}

func scenarioValidCookie(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	uat := c["iat"].(int64) - 30
	cookie := fmt.Sprintf("__client_uat=%d; __session=%s", uat, p.svc.token(c))
	r := p.send(t, "GET", "/dashboard", hdr("Cookie", cookie, "Accept", "application/json"), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
}

func scenarioExpired(t *testing.T, p *proxyUnderTest) {
	c := p.svc.claims(clerktest.NewID("user"))
	now := time.Now().Unix()
	c["iat"], c["nbf"], c["exp"] = now-600, now-605, now-540
	r := p.send(t, "GET", "/dashboard", bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusUnauthorized)
	wantAppUntouched(t, r)
	if len(r.auth) == 1 && !strings.Contains(r.auth[0].RespBody, "token-expired") &&
		!strings.Contains(r.auth[0].RespHeader.Get("X-Clerk-Auth-Reason"), "token-expired") {
		t.Errorf("service's reason is not token-expired: %s", r.authSummary())
	}
}

func scenarioWrongAzp(t *testing.T, p *proxyUnderTest) {
	c := p.svc.claims(clerktest.NewID("user"))
	c["azp"] = "https://evil.example"
	r := p.send(t, "GET", "/dashboard", bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusUnauthorized)
	wantAppUntouched(t, r)
}

// orgClaims makes a session whose active organization is slug (role admin,
// permission org:invoices:read).
func orgClaims(p *proxyUnderTest, user, orgID, slug string) clerktest.Claims {
	return p.svc.claims(user).WithOrg(orgID, slug, "admin", "o:invoices", "read,manage", "1")
}

func scenarioForbiddenOrg(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := orgClaims(p, user, clerktest.NewID("org"), "other")
	r := p.send(t, "GET", "/acme/reports", bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusForbidden)
	wantAppUntouched(t, r)
}

func scenarioAllowedOrg(t *testing.T, p *proxyUnderTest) {
	user, org := clerktest.NewID("user"), clerktest.NewID("org")
	c := orgClaims(p, user, org, "acme")
	r := p.send(t, "GET", "/acme/reports", bearer(p.svc.token(c)), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{
		"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string),
		"X-Auth-Org-Id": org, "X-Auth-Org-Slug": "acme", "X-Auth-Org-Role": "org:admin",
		"X-Auth-Org-Permissions": "org:invoices:read",
	})
}

// spoofed is what an attacker adds: every identity header, claiming admin
// (and, for a session, to be a machine credential).
func spoofed(kv ...string) http.Header {
	h := hdr(kv...)
	for _, name := range identityHeaders {
		h[name] = []string{"forged"}
	}
	h["X-Auth-User-Id"] = []string{"user_forged"}
	h["X-Auth-Org-Role"] = []string{"org:admin"}
	h["X-Auth-Token-Type"] = []string{"api_key"}
	h["X-Auth-Machine-Id"] = []string{"mch_forged"}
	h["X-Auth-Scopes"] = []string{"admin:all"}
	return h
}

func scenarioSpoofWithToken(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	h := spoofed("Authorization", "Bearer "+p.svc.token(c), "Accept", "application/json")
	r := p.send(t, "GET", "/dashboard", h, "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
}

func scenarioSpoofNoTokenProtected(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/dashboard", spoofed("Accept", "application/json"), "")
	wantStatus(t, r, http.StatusUnauthorized)
	wantAppUntouched(t, r)
}

func scenarioSpoofNoTokenPublic(t *testing.T, p *proxyUnderTest) {
	r := p.send(t, "GET", "/public/page", spoofed("Accept", "application/json"), "")
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, nil)
}

func scenarioUnderscore(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	h := hdr(
		"Authorization", "Bearer "+p.svc.token(c), "Accept", "application/json",
		"X_Auth_User_Id", "user_forged",
		"X-Auth_Org_Role", "org:admin",
		"X_Auth-Org-Id", "org_forged",
		"x_auth_org_slug", "forged",
	)
	r := p.send(t, "GET", "/dashboard", h, "")
	wantStatus(t, r, http.StatusOK)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
	// And the service itself must not read them as identity or policy.
	for _, a := range r.auth {
		if got := a.RespHeader.Get("X-Auth-User-Id"); got != user {
			t.Errorf("service answered X-Auth-User-Id %q, want %q", got, user)
		}
	}
}

func scenarioForwardedSpoof(t *testing.T, p *proxyUnderTest) {
	forged := []string{
		"X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Uri", "/public/x",
		"X-Forwarded-Method", "OPTIONS",
		"X-Forwarded-Prefix", "/public",
		"X-Original-URL", "http://evil.example/public/x",
		"X-Original-URI", "/public/x",
		"X-Original-Method", "OPTIONS",
		"X-Rewrite-URL", "/public/x",
		"X-HTTP-Method-Override", "OPTIONS",
	}
	// API: still 401 (the forged path would be public).
	r := p.send(t, "GET", "/dashboard?tab=1", hdr(append([]string{"Accept", "application/json"}, forged...)...), "")
	wantStatus(t, r, http.StatusUnauthorized)
	wantAppUntouched(t, r)
	// Browser: the redirect goes back to the real URL, not the forged one.
	r = p.send(t, "GET", "/dashboard?tab=1", browser(forged...), "")
	wantSignInRedirect(t, p, r, publicOrigin+"/dashboard?tab=1")
}

func scenarioOriginalRequest(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	const target = "/api/items/a%20b/%C3%A9?x=1&y=%2F&z=%C3%A9"
	h := bearer(p.svc.token(c))
	h.Set("Content-Type", "application/json")
	r := p.send(t, "POST", target, h, `{"hello":"world"}`)
	wantStatus(t, r, http.StatusOK)
	wantServiceAllowed(t, p, r)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
	app := r.app[0]
	if app.Method != "POST" || app.RequestURI != target {
		t.Errorf("app saw %s %s, want POST %s", app.Method, app.RequestURI, target)
	}
	a := r.auth[0]
	switch p.dialect {
	case dialectAuthRequest:
		if got := a.Header.Get("X-Original-Method"); got != "POST" {
			t.Errorf("X-Original-Method %q, want POST", got)
		}
		if got := a.Header.Get("X-Original-URL"); got != publicOrigin+target {
			t.Errorf("X-Original-URL %q, want %q", got, publicOrigin+target)
		}
		if a.Header.Get("Content-Length") != "" || a.Method != "GET" {
			t.Errorf("auth subrequest %s with Content-Length %q, want GET without body", a.Method, a.Header.Get("Content-Length"))
		}
	case dialectForwardAuth:
		want := map[string]string{
			"X-Forwarded-Method": "POST", "X-Forwarded-Uri": target,
			"X-Forwarded-Host": publicHost, "X-Forwarded-Proto": "http",
		}
		for k, w := range want {
			if got := a.Header.Get(k); got != w {
				t.Errorf("%s %q, want %q", k, got, w)
			}
		}
		if !strings.HasPrefix(a.RequestURI, "/forward-auth") || strings.Contains(a.RequestURI, "x=1") {
			t.Errorf("auth request URI %q: want /forward-auth without the client's query", a.RequestURI)
		}
	case dialectExtAuthz:
		if a.Method != "POST" || a.RequestURI != "/ext-authz"+target || a.Host != publicHost {
			t.Errorf("check was %s %s Host %s, want POST /ext-authz%s Host %s", a.Method, a.RequestURI, a.Host, target, publicHost)
		}
		if got := a.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q, want http", got)
		}
	case dialectGRPC:
		// attributes.request.http: the raw path with its query, no prefix.
		if a.Method != "POST" || a.RequestURI != target || a.Host != publicHost {
			t.Errorf("check was %s %s Host %s, want POST %s Host %s", a.Method, a.RequestURI, a.Host, target, publicHost)
		}
	}
}

func scenarioRedirectURLExact(t *testing.T, p *proxyUnderTest) {
	const target = "/files/a%20b/%C3%A9?q=1%202&r=%2F"
	r := p.send(t, "GET", target, browser(), "")
	wantSignInRedirect(t, p, r, publicOrigin+target)
}

func scenarioAmbiguousPath(t *testing.T, p *proxyUnderTest) {
	c := p.svc.claims(clerktest.NewID("user"))
	for _, target := range []string{"/files/a%2Fb", "/public/%2e%2e/acme/x", "/public%2Fx"} {
		r := p.send(t, "GET", target, bearer(p.svc.token(c)), "")
		if r.status < 400 {
			t.Errorf("%s: status %d, want a refusal (the service answers 400; NGINX makes it 500)\n%s", target, r.status, r)
		}
		// A proxy may refuse such a path itself; what it must never do is
		// pass it on.
		wantAppUntouched(t, r)
	}
}

// wsHandshake opens a raw connection through the proxy and asks for a
// WebSocket upgrade of /ws. It returns the response and, on 101, the open
// connection.
func (p *proxyUnderTest) wsHandshake(t *testing.T, extra http.Header) (*http.Response, net.Conn, *bufio.Reader, string) {
	t.Helper()
	u, _ := url.Parse(p.base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	keyBytes := make([]byte, 16)
	_, _ = rand.Read(keyBytes)
	key := base64.StdEncoding.EncodeToString(keyBytes)
	id := newTestID()
	var b strings.Builder
	fmt.Fprintf(&b, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", publicHost)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s: %s\r\n", key, testIDHeader, id)
	for k, vs := range extra {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		if got := res.Header.Get("Sec-WebSocket-Accept"); got != websocketAccept(key) {
			t.Errorf("Sec-WebSocket-Accept %q, want %q", got, websocketAccept(key))
		}
	}
	return res, conn, br, id
}

func scenarioWebSocket(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	c := p.svc.claims(user)
	res, conn, br, id := p.wsHandshake(t, hdr("Authorization", "Bearer "+p.svc.token(c)))
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		t.Fatalf("upgrade answered %s %q, want 101", res.Status, body)
	}
	msg := []byte("ping " + id)
	if err := writeFrame(conn, 0x1, msg, true); err != nil {
		t.Fatal(err)
	}
	op, payload, err := readFrame(br)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if op != 0x1 || string(payload) != string(msg) {
		t.Errorf("echo op %d %q, want text %q", op, payload, msg)
	}
	seen := p.app.byID(id)
	if len(seen) != 1 {
		t.Fatalf("app saw %d upgrade requests, want 1", len(seen))
	}
	wantIdentity(t, result{app: seen}, map[string]string{"X-Auth-User-Id": user, "X-Auth-Session-Id": c["sid"].(string)})
}

func scenarioWebSocketAnonymous(t *testing.T, p *proxyUnderTest) {
	res, _, _, id := p.wsHandshake(t, hdr("Accept", "application/json"))
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("upgrade without token answered %s, want 401", res.Status)
	}
	if n := len(p.app.byID(id)); n != 0 {
		t.Errorf("app saw %d upgrade requests, want 0", n)
	}
}

// sharedJar is a cookie jar that sends every cookie to every host: it
// stands in for Clerk's production cookies, which FAPI sets on the eTLD+1
// shared by the app and clerk.<domain>, while the test's hosts are
// app.example.com and the fake's clerk.example.test.
type sharedJar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func (j *sharedJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		// Go parses "Max-Age=0" as MaxAge -1: delete.
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			delete(j.cookies, c.Name)
			continue
		}
		j.cookies[c.Name] = c
	}
}

func (j *sharedJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

func (j *sharedJar) get(name string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c, ok := j.cookies[name]; ok {
		return c.Value
	}
	return ""
}

// hostRouter sends app.example.com to the proxy and Clerk's Frontend API
// host to the fake (over plain HTTP), and logs every hop.
type hostRouter struct {
	proxyAddr, fapiHost, fakeAddr string
	// satelliteFAPI is a satellite's Frontend API host (clerk.<domain>),
	// also served by the fake; "" when there is none.
	satelliteFAPI string
	mu            sync.Mutex
	hops          []string
}

func (h *hostRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	switch req.URL.Hostname() {
	case publicHost:
		if rest, ok := strings.CutPrefix(req.URL.Path, clerkProxyPath+"/"); ok {
			// The app's Clerk proxy path (a relative CLERK_PROXY_URL):
			// forwarded to the Frontend API, as the app's proxy would.
			out.URL.Scheme, out.URL.Host, out.Host = "http", h.fakeAddr, req.URL.Host
			out.URL.Path, out.URL.RawPath = "/"+rest, ""
			break
		}
		out.URL.Scheme, out.URL.Host, out.Host = "http", h.proxyAddr, req.URL.Host
	case h.fapiHost, h.satelliteFAPI:
		out.URL.Scheme, out.URL.Host, out.Host = "http", h.fakeAddr, req.URL.Host
	default:
		return nil, fmt.Errorf("hostRouter: refusing to leave the machine for %s", req.URL)
	}
	res, err := http.DefaultTransport.RoundTrip(out)
	if res != nil {
		res.Request = req // the client's view: app.example.com, not the dialled address
	}
	h.mu.Lock()
	if err != nil {
		h.hops = append(h.hops, fmt.Sprintf("%s %s -> %v", req.Method, shorten(req.URL.String()), err))
	} else {
		var cookies []string
		for _, c := range res.Header.Values("Set-Cookie") {
			cookies = append(cookies, shorten(c))
		}
		h.hops = append(h.hops, fmt.Sprintf("%s %s [Cookie: %s] -> %d Location=%q Set-Cookie=%q", req.Method, shorten(req.URL.String()), shorten(req.Header.Get("Cookie")), res.StatusCode, shorten(res.Header.Get("Location")), cookies))
	}
	h.mu.Unlock()
	return res, err
}

// shorten elides JWTs and other long tokens in logged URLs and cookies.
func shorten(s string) string {
	return regexp.MustCompile(`[A-Za-z0-9_-]{40,}(\.[A-Za-z0-9_-]{20,}){0,2}`).ReplaceAllStringFunc(s, func(m string) string {
		return m[:8] + "…"
	})
}

// scenarioHandshake: a browser signed in at Clerk (the FAPI knows its
// __client; the app's domain has __client_uat) whose __session has expired
// opens a page. The service sends it through Clerk's handshake, the browser
// comes back with the new cookies, and ends on the app as that user.
func scenarioHandshake(t *testing.T, p *proxyUnderTest) { handshakeRoundTrip(t, p) }

// handshakeRoundTrip follows an expired session's handshake with a cookie
// jar to the app and returns the browser, whose router logged the hops.
func handshakeRoundTrip(t *testing.T, p *proxyUnderTest) *browserTrip {
	fake := p.svc.Fake
	user := clerktest.NewID("user")
	expired := p.svc.claims(user)
	now := time.Now().Unix()
	expired["iat"], expired["nbf"], expired["exp"] = now-600, now-605, now-540
	b := newBrowserTrip(p, "",
		fake.SignInBrowser(user),
		&http.Cookie{Name: "__client_uat", Value: strconv.FormatInt(now-3600, 10)},
		&http.Cookie{Name: "__session", Value: p.svc.token(expired)},
	)
	const target = "/dashboard?tab=1"
	final, seen := b.navigate(t, p, target)
	if final != publicOrigin+target {
		t.Errorf("ended on %s, want the original %s", final, publicOrigin+target)
	}
	if len(fake.HandshakeRequests()) == 0 {
		t.Errorf("the browser never went through Clerk's handshake\n  %s", b.hops())
	}
	if got := identityAt(seen.Header)["X-Auth-User-Id"]; len(got) != 1 || got[0] != user {
		t.Errorf("app saw X-Auth-User-Id %q, want %q", got, user)
	}
	if b.jar.get("__session") == "" || b.jar.get("__clerk_handshake") != "" {
		t.Errorf("cookies after the round trip: __session %q, __clerk_handshake %q; want a session and no handshake left", b.jar.get("__session"), b.jar.get("__clerk_handshake"))
	}
	return b
}

// browserTrip is a browser that follows redirects with one cookie jar for
// every host, reaching the proxy for the public host and the fake Clerk
// for Clerk's hosts (hostRouter).
type browserTrip struct {
	jar    *sharedJar
	router *hostRouter
	client *http.Client
}

// newBrowserTrip holds cookies; satelliteFAPI, when not "", is a
// satellite's Frontend API host the fake also serves.
func newBrowserTrip(p *proxyUnderTest, satelliteFAPI string, cookies ...*http.Cookie) *browserTrip {
	u, _ := url.Parse(p.base)
	fu, _ := url.Parse(p.svc.Fake.URL)
	b := &browserTrip{
		jar:    &sharedJar{cookies: map[string]*http.Cookie{}},
		router: &hostRouter{proxyAddr: u.Host, fapiHost: p.svc.Fake.FAPIHost, fakeAddr: fu.Host, satelliteFAPI: satelliteFAPI},
	}
	origin, _ := url.Parse(publicOrigin)
	b.jar.SetCookies(origin, cookies)
	b.client = &http.Client{Jar: b.jar, Transport: b.router, Timeout: 15 * time.Second,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return fmt.Errorf("redirect loop")
			}
			return nil
		}}
	return b
}

// navigate opens publicOrigin+target as a browser navigation and follows
// every redirect. It must end with 200 from the app, which must have seen
// that navigation once; it returns the final URL and what the app saw.
func (b *browserTrip) navigate(t *testing.T, p *proxyUnderTest, target string) (string, seenRequest) {
	t.Helper()
	id := newTestID()
	req, _ := http.NewRequest("GET", publicOrigin+target, nil)
	for k, v := range browser() {
		req.Header[k] = v
	}
	req.Header.Set(testIDHeader, id)
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v\n  %s", target, err, b.hops())
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Upstream") != "app" {
		t.Fatalf("ended with %d %q, want 200 from the app\n  %s", res.StatusCode, body, b.hops())
	}
	seen := p.app.byID(id)
	if len(seen) != 1 {
		t.Fatalf("app saw %d requests, want 1\n  %s", len(seen), b.hops())
	}
	t.Logf("hops:\n  %s", b.hops())
	return res.Request.URL.String(), seen[0]
}

func (b *browserTrip) hops() string {
	b.router.mu.Lock()
	defer b.router.mu.Unlock()
	return strings.Join(b.router.hops, "\n  ")
}

func scenarioServiceDown(t *testing.T, p *proxyUnderTest) {
	base := p.launchDown(t)
	c := p.svc.claims(clerktest.NewID("user"))
	for _, h := range []http.Header{bearer(p.svc.token(c)), browser(), hdr("Accept", "application/json")} {
		r := p.sendTo(t, base, "GET", "/dashboard", h, "")
		if r.status < 500 || r.status > 599 {
			t.Errorf("with the service down the proxy answered %d, want 5xx\n%s", r.status, r)
		}
		wantAppUntouched(t, r)
	}
}
