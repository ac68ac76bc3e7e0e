package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestDecisionsMatchClerkSDK is a differential test: the same few thousand
// requests go through our engine and through @clerk/backend's own
// authenticateRequest (run with node, see testdata/sdk), and the outcomes,
// reasons, handshake redirects, cookies and identities must agree.
//
// CLERK_SDK_NODE_PATH names the node_modules holding @clerk/backend
// (scripts/sdk-oracle.sh installs it). Without it the test skips, except
// under CI=true, where it fails.
func TestDecisionsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	for _, production := range []bool{true, false} {
		t.Run(map[bool]string{true: "production", false: "development"}[production], func(t *testing.T) {
			env := newTestEnv(t, production, nil)
			// Both sides refresh sessions against the fake's Backend API
			// (the SDK through its apiClient: secretKey + apiUrl), which
			// answers a repeated refresh with the same cookies.
			api, err := clerk.NewAPI(env.fake.URL, "v1", env.fake.SecretKey, "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			env.engine.refresher = api
			env.fake.RepeatRefreshAnswers(true)
			env.fake.SetRateLimit(1 << 20)
			cases := append(sdkCases(env, production), sdkRefreshCases(t, env, production)...)
			results := runSDK(t, nodePath, env, cases)
			sdkCalls := refreshCallSet(env.fake.RefreshCalls())
			sdkN := len(env.fake.RefreshCalls())
			mismatches := 0
			for i, c := range cases {
				d := env.engine.Decide(context.Background(), c.request())
				if diff := compareWithSDK(d, results[i]); diff != "" {
					mismatches++
					if mismatches <= 15 {
						t.Errorf("%s: %s\n  ours: %v %q loc=%.150q cookies=%v user=%q\n  sdk:  %s %q loc=%.150q cookies=%v user=%q",
							c.name, diff, d.Outcome, d.Reason, d.Location, d.SetCookies, d.Identity.UserID,
							results[i].Status, results[i].Reason, results[i].Location, results[i].SetCookies, results[i].UserID)
					}
				}
			}
			if mismatches > 0 {
				t.Fatalf("%d of %d requests decided differently from @clerk/backend", mismatches, len(cases))
			}
			// The refresh cases must reach every branch, on the SDK's side.
			seen := map[string]bool{}
			for i, c := range cases {
				if strings.HasPrefix(c.name, "refresh/") {
					r := results[i]
					if r.Status == "signed-in" && len(r.SetCookies) > 0 && r.UserID == "user_refresh" {
						seen["signed-in with cookies"] = true
					}
					seen[r.Reason] = true
				}
			}
			for _, want := range []string{"signed-in with cookies", "session-token-expired-refresh-authentication_invalid",
				"session-token-expired-refresh-resource_not_found", "session-token-expired-refresh-internal_clerk_error",
				"session-token-expired-refresh-too_many_requests", "session-token-expired-refresh-unexpected-bapi-error",
				"session-token-expired-refresh-fetch-error", "session-token-expired-refresh-unexpected-sdk-error",
				"session-token-expired-refresh-invalid-session-token", "session-token-expired-refresh-expired-session-token-missing-sid-claim",
				"session-token-expired-refresh-non-eligible-non-get", "session-token-expired-refresh-non-eligible-no-refresh-cookie",
				"token-invalid-signature"} {
				if !seen[want] {
					t.Errorf("no refresh case where the SDK answers %q", want)
				}
			}
			// The same refresh requests, in content (we make fewer calls:
			// repeated and concurrent refreshes share one).
			ours := refreshCallSet(env.fake.RefreshCalls()[sdkN:])
			if len(sdkCalls) == 0 || !maps.Equal(ours, sdkCalls) {
				t.Fatalf("refresh requests differ: SDK made %d distinct, we made %d distinct", len(sdkCalls), len(ours))
			}
			t.Logf("%d requests decided as @clerk/backend decides them", len(cases))
		})
	}
}

type sdkCase struct {
	name    string
	URL     string      `json:"url"`
	Method  string      `json:"method"`
	Headers [][2]string `json:"headers"`
	// AcceptsToken is the SDK's acceptsToken option: a token type, a
	// []string of them, or "any"; nil leaves the SDK's default
	// (session_token).
	AcceptsToken any `json:"acceptsToken,omitempty"`
	// Has, when set, is passed to the signed-in auth object's has().
	Has map[string]any `json:"has,omitempty"`
}

func (c sdkCase) request() *Request {
	h := http.Header{}
	for _, kv := range c.Headers {
		h.Add(kv[0], kv[1])
	}
	return &Request{Method: c.Method, URL: mustURL(c.URL), Header: h}
}

type sdkResult struct {
	Status         string   `json:"status"`
	Reason         string   `json:"reason"`
	Location       string   `json:"location"`
	SetCookies     []string `json:"setCookies"`
	UserID         string   `json:"userId"`
	OrgID          string   `json:"orgId"`
	OrgRole        string   `json:"orgRole"`
	OrgPermissions []string `json:"orgPermissions"`
	Message        string   `json:"message"`
	// TokenType is the request state's tokenType: the credential's type
	// when signed in, the type the SDK answered for when signed out ("" for
	// its signedOutInvalidToken, whose tokenType is null).
	TokenType string `json:"tokenType"`
	// Machine is the machine credential's auth object (toAuth()) when
	// signed in with one; nil otherwise.
	Machine *sdkMachine `json:"machine"`
	// Has is auth.has(case.Has) when the case asks (a feature or plan
	// rule), nil otherwise.
	Has *bool `json:"has"`
	// ReverificationBody is @clerk/shared reverificationError(has's
	// reverification) as JSON, when the case asks for one.
	ReverificationBody *string `json:"reverificationBody"`
}

// sdkMachine is the part of the SDK's authenticatedMachineObject the
// service renders as identity headers.
type sdkMachine struct {
	TokenType string   `json:"tokenType"`
	ID        string   `json:"id"`
	Subject   string   `json:"subject"`
	Scopes    []string `json:"scopes"`
	ClientID  string   `json:"clientId"`
	MachineID string   `json:"machineId"`
	UserID    string   `json:"userId"`
	OrgID     string   `json:"orgId"`
}

// sdkCases builds the cross product of tokens, carriers, __client_uat
// values, request kinds and loop counters.
func sdkCases(env *testEnv, production bool) []sdkCase {
	now := time.Now()
	fake := env.fake
	other, _ := clerktest.NewSigningKey(fake.Key().Kid)
	mint := func(mod func(clerktest.Claims)) string { return mintSession(fake, "user_sdk", now, mod) }
	tokens := []struct{ name, tok string }{
		{"valid", mint(nil)},
		{"expired", mint(func(c clerktest.Claims) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(-time.Minute).Unix()
		})},
		{"nbf-future", mint(func(c clerktest.Claims) { c["nbf"] = now.Add(time.Minute).Unix() })},
		{"iat-future", mint(func(c clerktest.Claims) { c["iat"] = now.Add(time.Minute).Unix() })},
		{"bad-signature", clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT"}, fake.SessionClaims("user_sdk"))},
		{"garbage", "garbage"},
		{"alg-none", clerktest.SignWith(fake.Key(), clerktest.Header{"alg": "none", "kid": fake.Key().Kid}, fake.SessionClaims("user_sdk"))},
		{"template", clerktest.SignWith(fake.Key(), clerktest.Header{"alg": "RS256", "kid": fake.Key().Kid, "cat": "cl_B7d4PD222AAA"}, fake.SessionClaims("user_sdk"))},
		{"machine", mint(func(c clerktest.Claims) { c["sub"] = "mch_1" })},
		{"v1-org", mint(func(c clerktest.Claims) {
			delete(c, "v")
			c["org_id"], c["org_slug"], c["org_role"], c["org_permissions"] = "org_1", "acme", "org:admin", []string{"org:a:read"}
		})},
		{"v2-org", mint(func(c clerktest.Claims) {
			c.WithOrg("org_2", "beta", "member", "o:repositories,uo:projects,u:gold", "read,create,update,delete,revoke", "7,21,0")
		})},
		{"pending", mint(func(c clerktest.Claims) { c["sts"] = "pending" })},
		{"other-instance", mint(func(c clerktest.Claims) { c["iss"] = "https://other.clerk.accounts.dev" })},
	}
	sfx := "_" + env.suffix
	uats := []struct{ name, value string }{
		{"no-uat", ""}, {"uat-0", "0"}, {"uat-old", "1"}, {"uat-new", strconv.FormatInt(now.Unix(), 10)}, {"uat-negative", "-5"}, {"uat-text", "abc"},
	}
	kinds := append(slices.Clip(browserKinds),
		requestKind{"cross-origin-document", "GET", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Referer", "https://elsewhere.example/"}}})
	var cases []sdkCase
	add := func(name, method string, headers [][2]string, cookies []string) {
		h := append([][2]string(nil), headers...)
		if len(cookies) > 0 {
			h = append(h, [2]string{"Cookie", strings.Join(cookies, "; ")})
		}
		cases = append(cases, sdkCase{name: name, URL: "https://app.example.test/dashboard?tab=1", Method: method, Headers: h})
	}
	devBrowsers := [][]string{nil}
	if !production {
		devBrowsers = [][]string{nil, {"__clerk_db_jwt=dvb_1"}, {"__clerk_db_jwt" + sfx + "=dvb_2"}}
	}
	for _, tk := range tokens {
		for _, kind := range kinds {
			// Header carrier.
			add(fmt.Sprintf("%s/header/%s", tk.name, kind.name), kind.method, append(kind.headers, [2]string{"Authorization", "Bearer " + tk.tok}), nil)
			for _, uat := range uats {
				for di, db := range devBrowsers {
					for _, count := range []string{"", "3"} {
						for _, carrier := range []string{"plain", "suffixed", "quoted"} {
							var ck []string
							switch carrier {
							case "plain":
								ck = append(ck, "__session="+tk.tok)
								if uat.value != "" {
									ck = append(ck, "__client_uat="+uat.value)
								}
							case "suffixed":
								ck = append(ck, "__session"+sfx+"="+tk.tok)
								if uat.value != "" {
									ck = append(ck, "__client_uat"+sfx+"="+uat.value, "__client_uat="+uat.value)
								}
							case "quoted":
								ck = append(ck, `__session="`+tk.tok+`"`)
								if uat.value != "" {
									ck = append(ck, "__client_uat="+uat.value)
								}
							}
							ck = append(ck, db...)
							if count != "" {
								ck = append(ck, "__clerk_redirect_count="+count)
							}
							add(fmt.Sprintf("%s/%s/%s/%s/db%d/count%s", tk.name, carrier, uat.name, kind.name, di, count), kind.method, kind.headers, ck)
						}
					}
				}
			}
		}
	}
	// No credentials at all, per kind.
	for _, kind := range kinds {
		add("none/"+kind.name, kind.method, kind.headers, nil)
	}
	return cases
}

func runSDK(t *testing.T, nodePath string, env *testEnv, cases []sdkCase) []sdkResult {
	t.Helper()
	return runSDKWith(t, nodePath, map[string]any{
		"publishableKey": env.fake.PublishableKey,
		"secretKey":      env.fake.SecretKey,
		"jwtKey":         env.fake.Key().PublicKeyPEM(),
		"apiUrl":         env.fake.URL,
	}, cases)
}

// runSDKWith runs the cases through authenticateRequest of a Clerk client
// made with clientOptions (createClerkClient's options).
func runSDKWith(t *testing.T, nodePath string, clientOptions map[string]any, cases []sdkCase) []sdkResult {
	t.Helper()
	opts, _ := json.Marshal(clientOptions)
	script, _ := filepath.Abs("testdata/sdk/authenticate.cjs")
	var results []sdkResult
	clerktest.RunNode(t, nodePath, cases, &results, script, string(opts))
	if len(results) != len(cases) {
		t.Fatalf("node output: %d results for %d cases", len(results), len(cases))
	}
	return results
}

// requestKind is a kind of request the differential tests send.
type requestKind struct {
	name, method string
	headers      [][2]string
}

// browserKinds are an API call, a document navigation, a GET whose Accept
// starts with text/html (no Sec-Fetch-Dest), and a POST navigation: the
// kinds the SDK's handshake gate tells apart.
var browserKinds = []requestKind{
	{"api", "GET", [][2]string{{"Accept", "application/json"}}},
	{"document", "GET", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Accept", "text/html"}}},
	{"accept-html", "GET", [][2]string{{"Accept", "text/html,application/xhtml+xml"}}},
	{"post-document", "POST", [][2]string{{"Sec-Fetch-Dest", "document"}}},
}

// mintSession signs the fake's session claims for user, issued 10 s
// before now, after mod (nil: as they are).
func mintSession(fake *clerktest.Server, user string, now time.Time, mod func(clerktest.Claims)) string {
	c := fake.SessionClaims(user)
	c["iat"] = now.Add(-10 * time.Second).Unix()
	if mod != nil {
		mod(c)
	}
	return fake.Sign(c)
}

// compareWithSDK returns "" when our decision is the SDK's.
func compareWithSDK(d Decision, s sdkResult) string {
	switch s.Status {
	case "signed-in":
		if s.UserID == "" { // pending: toAuth() is signed out
			if (d.Outcome == Unauthenticated || d.Outcome == SignIn) && d.Reason == ReasonSessionPending && sameCookies(d.SetCookies, s.SetCookies) {
				return ""
			}
			return "SDK: signed in but pending"
		}
		if d.Outcome != Allow {
			return "SDK allows"
		}
		if !sameCookies(d.SetCookies, s.SetCookies) {
			return "cookies differ"
		}
		perms := d.Identity.OrgPermissions
		if d.Identity.UserID != s.UserID || d.Identity.OrgID != s.OrgID || d.Identity.OrgRole != s.OrgRole || !slices.Equal(perms, s.OrgPermissions) && !(len(perms) == 0 && len(s.OrgPermissions) == 0) {
			return "identity differs"
		}
		return ""
	case "handshake":
		if d.Outcome != Handshake {
			return "SDK hand-shakes"
		}
		if string(d.Reason) != s.Reason || d.Location != s.Location || !slices.Equal(d.SetCookies, s.SetCookies) {
			return "handshake differs"
		}
		return ""
	case "signed-out":
		if d.Outcome != Unauthenticated && d.Outcome != SignIn {
			return "SDK signs out"
		}
		if !sameCookies(d.SetCookies, s.SetCookies) {
			return "cookies differ"
		}
		if string(d.Reason) != s.Reason {
			return "reason differs"
		}
		return ""
	}
	return "SDK error: " + s.Reason
}

// sdkRefreshCases are expired sessions carrying __refresh_<suffix>, so that
// both sides call the fake's POST /v1/sessions/{id}/refresh: good refresh
// tokens, wrong ones, revoked sessions, and sessions whose refresh the fake
// answers with a 5xx, an HTML page, a body labelled JSON that is not, a
// forged cookie, no session cookie, an empty list, or Clerk's
// "unexpected_error" code. Every request kind, carrier and cookie family.
func sdkRefreshCases(t *testing.T, env *testEnv, production bool) []sdkCase {
	t.Helper()
	fake := env.fake
	now := time.Now()
	sfx := "_" + env.suffix
	expiredFor := func(s clerktest.Session, mod func(clerktest.Claims)) string {
		c := fake.SessionClaims(s.UserID)
		c["sid"], c["iat"], c["nbf"], c["exp"] = s.SessionID, now.Add(-2*time.Minute).Unix(), now.Add(-2*time.Minute).Unix(), now.Add(-time.Minute).Unix()
		if mod != nil {
			mod(c)
		}
		return fake.Sign(c)
	}
	other, _ := clerktest.NewSigningKey(fake.Key().Kid)
	forged := func(s clerktest.Session) string {
		c := fake.SessionClaims(s.UserID)
		c["sid"] = s.SessionID
		return clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT"}, c)
	}
	canned := func(status int, contentType, body string) func(clerktest.Session) {
		return func(s clerktest.Session) { fake.SetSessionRefreshResponse(s.SessionID, status, contentType, body) }
	}
	type scenario struct {
		name    string
		setup   func(s clerktest.Session)
		token   func(s clerktest.Session) string
		refresh func(s clerktest.Session) string
	}
	good := func(s clerktest.Session) string { return s.RefreshToken }
	expired := func(s clerktest.Session) string { return expiredFor(s, nil) }
	scenarios := []scenario{
		{name: "refreshed", token: expired, refresh: good},
		{name: "org-session", token: func(s clerktest.Session) string {
			return expiredFor(s, func(c clerktest.Claims) { c.WithOrg("org_2", "beta", "admin", "o:repositories", "read,create", "3") })
		}, refresh: good},
		{name: "wrong-refresh-token", token: expired, refresh: func(clerktest.Session) string { return "rt_wrong" }},
		{name: "revoked", setup: func(s clerktest.Session) { fake.RevokeSession(s.SessionID) }, token: expired, refresh: good},
		{name: "no-sid", token: func(s clerktest.Session) string {
			return expiredFor(s, func(c clerktest.Claims) { delete(c, "sid") })
		}, refresh: good},
		{name: "valid-token-no-refresh", token: func(s clerktest.Session) string {
			c := fake.SessionClaims(s.UserID)
			c["sid"], c["iat"] = s.SessionID, now.Add(-10*time.Second).Unix()
			return fake.Sign(c)
		}, refresh: good},
		{name: "expired-bad-signature", token: func(s clerktest.Session) string {
			c := fake.SessionClaims(s.UserID)
			c["sid"], c["iat"], c["exp"] = s.SessionID, now.Add(-2*time.Minute).Unix(), now.Add(-time.Minute).Unix()
			return clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT"}, c)
		}, refresh: good},
		{name: "bapi-500", setup: canned(500, "", `{"errors":[{"code":"internal_clerk_error","message":"x"}]}`), token: expired, refresh: good},
		{name: "bapi-429", setup: canned(429, "", `{"errors":[{"code":"too_many_requests","message":"x"}]}`), token: expired, refresh: good},
		{name: "bapi-html", setup: canned(502, "text/html", "<html>bad gateway</html>"), token: expired, refresh: good},
		{name: "bapi-json-garbage", setup: canned(502, "", "<html>bad gateway</html>"), token: expired, refresh: good},
		{name: "bapi-no-errors", setup: canned(400, "", `{"errors":[]}`), token: expired, refresh: good},
		{name: "bapi-no-code", setup: canned(400, "", `{"errors":[{"message":"x"}]}`), token: expired, refresh: good},
		{name: "bapi-unexpected-error", setup: canned(400, "", `{"errors":[{"code":"unexpected_error"}]}`), token: expired, refresh: good},
		{name: "answer-empty", setup: canned(200, "", `{"object":"cookies","cookies":[]}`), token: expired, refresh: good},
		{name: "answer-text", setup: canned(200, "text/plain", `{"object":"cookies","cookies":["__session=x"]}`), token: expired, refresh: good},
		{name: "answer-not-json", setup: canned(200, "", `cookies`), token: expired, refresh: good},
		{name: "answer-no-session", setup: canned(200, "", `{"object":"cookies","cookies":["__client_uat=1; Path=/"]}`), token: expired, refresh: good},
		{name: "answer-forged", token: expired, refresh: good},
	}
	kinds := []struct {
		name, method string
		headers      [][2]string
	}{
		{"api", "GET", [][2]string{{"Accept", "application/json"}, {"User-Agent", "sdk-diff"}}},
		{"document", "GET", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Accept", "text/html"}}},
		{"post-document", "POST", [][2]string{{"Sec-Fetch-Dest", "document"}}},
		{"head", "HEAD", [][2]string{{"Accept", "text/html"}}},
	}
	var cases []sdkCase
	for _, sc := range scenarios {
		s := fake.NewSession("user_refresh")
		if sc.name == "answer-forged" {
			fake.SetSessionRefreshResponse(s.SessionID, 200, "", `{"object":"cookies","cookies":["__session=`+forged(s)+`; Path=/"]}`)
		}
		tok, rt := sc.token(s), sc.refresh(s)
		if sc.setup != nil {
			sc.setup(s)
		}
		for _, kind := range kinds {
			for _, carrier := range []string{"plain", "suffixed", "header", "unsuffixed-refresh"} {
				var ck []string
				h := append([][2]string(nil), kind.headers...)
				switch carrier {
				case "plain":
					ck = []string{"__session=" + tok, "__client_uat=1", "__refresh" + sfx + "=" + rt}
				case "suffixed":
					ck = []string{"__session" + sfx + "=" + tok, "__client_uat" + sfx + "=1", "__client_uat=1", "__refresh" + sfx + "=" + rt}
				case "header":
					h = append(h, [2]string{"Authorization", "Bearer " + tok})
					ck = []string{"__refresh" + sfx + "=" + rt}
				case "unsuffixed-refresh":
					ck = []string{"__session=" + tok, "__client_uat=1", "__refresh=" + rt}
				}
				if !production {
					ck = append(ck, "__clerk_db_jwt=dvb_1", "__clerk_db_jwt"+sfx+"=dvb_1")
				}
				h = append(h, [2]string{"Cookie", strings.Join(ck, "; ")})
				cases = append(cases, sdkCase{name: "refresh/" + sc.name + "/" + carrier + "/" + kind.name, URL: "https://app.example.test/dashboard?tab=1", Method: kind.method, Headers: h})
			}
		}
	}
	return cases
}

// refreshCallSet is the distinct content of refresh requests (headers
// aside: ours are the same, but only the first of a shared call is sent).
func refreshCallSet(calls []clerktest.RefreshCall) map[string]bool {
	set := map[string]bool{}
	for _, c := range calls {
		set[strings.Join([]string{c.SessionID, c.SuffixedCookies, c.Format, c.ExpiredToken, c.RefreshToken, c.RequestOrigin}, "|")] = true
	}
	return set
}

func sameCookies(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}
