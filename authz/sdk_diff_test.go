package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	nodePath := os.Getenv("CLERK_SDK_NODE_PATH")
	if nodePath == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CLERK_SDK_NODE_PATH is not set: run scripts/sdk-oracle.sh")
		}
		t.Skip("CLERK_SDK_NODE_PATH not set (scripts/sdk-oracle.sh installs @clerk/backend)")
	}
	for _, production := range []bool{true, false} {
		t.Run(map[bool]string{true: "production", false: "development"}[production], func(t *testing.T) {
			env := newTestEnv(t, production, nil)
			cases := sdkCases(env, production)
			results := runSDK(t, nodePath, env, cases)
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
			t.Logf("%d requests decided as @clerk/backend decides them", len(cases))
		})
	}
}

type sdkCase struct {
	name    string
	URL     string      `json:"url"`
	Method  string      `json:"method"`
	Headers [][2]string `json:"headers"`
}

func (c sdkCase) request() *Request {
	h := http.Header{}
	for _, kv := range c.Headers {
		h.Add(kv[0], kv[1])
	}
	return &Request{Endpoint: "sdk-diff", Method: c.Method, URL: mustURL(c.URL), Header: h}
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
}

// sdkCases builds the cross product of tokens, carriers, __client_uat
// values, request kinds and loop counters.
func sdkCases(env *testEnv, production bool) []sdkCase {
	now := time.Now()
	fake := env.fake
	other, _ := clerktest.NewSigningKey(fake.Key().Kid)
	mint := func(mod func(clerktest.Claims)) string {
		c := fake.SessionClaims("user_sdk")
		c["iat"] = now.Add(-10 * time.Second).Unix()
		if mod != nil {
			mod(c)
		}
		return fake.Sign(c)
	}
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
	kinds := []struct {
		name, method string
		headers      [][2]string
	}{
		{"api", "GET", [][2]string{{"Accept", "application/json"}}},
		{"document", "GET", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Accept", "text/html"}}},
		{"accept-html", "GET", [][2]string{{"Accept", "text/html,application/xhtml+xml"}}},
		{"post-document", "POST", [][2]string{{"Sec-Fetch-Dest", "document"}}},
		{"cross-origin-document", "GET", [][2]string{{"Sec-Fetch-Dest", "document"}, {"Referer", "https://elsewhere.example/"}}},
	}
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
	opts, _ := json.Marshal(map[string]any{
		"publishableKey": env.fake.PublishableKey,
		"secretKey":      env.fake.SecretKey,
		"jwtKey":         env.fake.Key().PublicKeyPEM(),
	})
	input, _ := json.Marshal(cases)
	script, _ := filepath.Abs("testdata/sdk/authenticate.cjs")
	cmd := exec.Command("node", script, string(opts))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []sdkResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node output: %v (%d results for %d cases)", err, len(results), len(cases))
	}
	return results
}

// compareWithSDK returns "" when our decision is the SDK's.
func compareWithSDK(d Decision, s sdkResult) string {
	switch s.Status {
	case "signed-in":
		if s.UserID == "" { // pending: toAuth() is signed out
			if (d.Outcome == Unauthenticated || d.Outcome == SignIn) && d.Reason == ReasonSessionPending {
				return ""
			}
			return "SDK: signed in but pending"
		}
		if d.Outcome != Allow {
			return "SDK allows"
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
		if string(d.Reason) != s.Reason {
			return "reason differs"
		}
		return ""
	}
	return "SDK error: " + s.Reason
}
