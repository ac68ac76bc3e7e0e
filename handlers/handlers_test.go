package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

type testService struct {
	fake    *clerktest.Server
	handler http.Handler
	logs    *authztest.LogBuffer
}

func newTestService(t *testing.T) *testService {
	t.Helper()
	env := authztest.New(t, authztest.Options{Fake: clerktest.Options{Production: true}, Log: true})
	return &testService{fake: env.Fake, handler: NewRouter(Options{Engine: env.Engine, Logger: env.Logger}), logs: env.Logs}
}

func (s *testService) do(method, target string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			r.Host = headers[i+1]
			continue
		}
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w
}

var traefikHeaders = []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.test", "X-Forwarded-Uri", "/dashboard?tab=1"}
var nginxHeaders = []string{"X-Original-URL", "https://app.example.test/dashboard?tab=1", "X-Original-Method", "GET"}
var envoyHeaders = []string{"Host", "app.example.test", "X-Forwarded-Proto", "https"}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

func TestEndpointsReadTheirProxyHeaders(t *testing.T) {
	s := newTestService(t)
	bearer := "Bearer " + s.fake.Sign(s.fake.SessionClaims("user_1"))
	tests := []struct {
		name, method, target string
		headers              []string
		status               int
		reason               string
	}{
		{"forward-auth allows a valid bearer", "GET", "/forward-auth", with(traefikHeaders, "Authorization", bearer), 200, ""},
		{"forward-auth without a method header", "GET", "/forward-auth", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "a.test", "X-Forwarded-Uri", "/", "Authorization", bearer}, 400, ""},
		{"forward-auth without a host header", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/", "Authorization", bearer}, 400, ""},
		{"forward-auth without a URI header", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "a.test", "Authorization", bearer}, 400, ""},
		{"forward-auth ignores NGINX's family", "GET", "/forward-auth", with(nginxHeaders, "Authorization", bearer), 400, ""},
		{"forward-auth with a bad host", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.test/x", "X-Forwarded-Uri", "/", "Authorization", bearer}, 400, ""},
		{"forward-auth with a lower-case method", "GET", "/forward-auth", []string{"X-Forwarded-Method", "get", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "a.test", "X-Forwarded-Uri", "/", "Authorization", bearer}, 400, ""},
		{"forward-auth with a non-http scheme", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "a.test", "X-Forwarded-Uri", "/", "Authorization", bearer}, 400, ""},
		{"forward-auth with a relative URI", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "a.test", "X-Forwarded-Uri", "dashboard", "Authorization", bearer}, 400, ""},
		{"forward-auth accepts Traefik's wss proto", "GET", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "wss", "X-Forwarded-Host", "a.test", "X-Forwarded-Uri", "/ws", "Authorization", bearer}, 200, ""},
		{"forward-auth API call without credentials", "GET", "/forward-auth", traefikHeaders, 401, "session-token-and-uat-missing"},
		{"auth-request allows a valid bearer", "GET", "/auth-request", with(nginxHeaders, "Authorization", bearer), 200, ""},
		{"auth-request with URI, proto and host", "GET", "/auth-request", []string{"X-Original-URI", "/x", "X-Original-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "a.test", "Authorization", bearer}, 200, ""},
		{"auth-request without the method", "GET", "/auth-request", []string{"X-Original-URL", "https://a.test/", "Authorization", bearer}, 400, ""},
		{"auth-request ignores Traefik's family", "GET", "/auth-request", with(traefikHeaders, "Authorization", bearer), 400, ""},
		{"auth-request refuses a relative original URL", "GET", "/auth-request", []string{"X-Original-URL", "/dashboard", "X-Original-Method", "GET", "Authorization", bearer}, 400, ""},
		{"auth-request refuses userinfo in the original URL", "GET", "/auth-request", []string{"X-Original-URL", "https://a.test@evil.test/", "X-Original-Method", "GET", "Authorization", bearer}, 400, ""},
		{"ext-authz allows a valid bearer", "GET", "/ext-authz/dashboard?tab=1", with(envoyHeaders, "Authorization", bearer), 200, ""},
		{"ext-authz keeps the original method", "DELETE", "/ext-authz/items/1", with(envoyHeaders, "Authorization", bearer), 200, ""},
		{"ext-authz without X-Forwarded-Proto", "GET", "/ext-authz/", []string{"Host", "a.test", "Authorization", bearer}, 400, ""},
		{"ext-authz API call without credentials", "GET", "/ext-authz/", envoyHeaders, 401, "session-token-and-uat-missing"},
		{"unknown path", "GET", "/nope", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.do(tt.method, tt.target, tt.headers...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.reason != "" {
				var body struct{ Error, Reason string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Reason != tt.reason || body.Error != "unauthenticated" {
					t.Fatalf("body %s", w.Body)
				}
				if w.Header().Get("WWW-Authenticate") != "Bearer" {
					t.Fatalf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestAllowSetsEveryIdentityHeader(t *testing.T) {
	s := newTestService(t)
	tok := s.fake.Sign(s.fake.SessionClaims("user_1"))
	for _, tc := range []struct {
		name, target string
		headers      []string
	}{
		{"forward-auth", "/forward-auth", traefikHeaders},
		{"auth-request", "/auth-request", nginxHeaders},
		{"ext-authz", "/ext-authz/dashboard", envoyHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The client tries to pass as someone else; the allow reply
			// carries every identity header so the proxy overwrites them.
			w := s.do("GET", tc.target, with(tc.headers, "Authorization", "Bearer "+tok, "X-Auth-User-Id", "user_admin", "X-Auth-Org-Role", "org:admin")...)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			for _, h := range IdentityHeaders {
				if _, ok := w.Header()[h]; !ok {
					t.Errorf("%s missing from the allow reply", h)
				}
			}
			if w.Header().Get(HeaderUserID) != "user_1" || w.Header().Get(HeaderOrgRole) != "" {
				t.Fatalf("identity %v", w.Header())
			}
			remove := w.Header().Get("X-Envoy-Auth-Headers-To-Remove")
			if tc.name == "ext-authz" {
				if remove != "x-auth-org-id, x-auth-org-slug, x-auth-org-role, x-auth-org-permissions, x-auth-actor-id, x-auth-machine-id, x-auth-token-id, x-auth-scopes, x-auth-client-id" {
					t.Fatalf("headers to remove %q", remove)
				}
			} else if remove != "" {
				t.Fatalf("headers to remove sent to a non-Envoy proxy: %q", remove)
			}
		})
	}
}

func TestBrowserNavigationReplies(t *testing.T) {
	s := newTestService(t)
	nav := []string{"Sec-Fetch-Dest", "document", "Accept", "text/html"}
	t.Run("forward-auth redirects", func(t *testing.T) {
		w := s.do("GET", "/forward-auth", with(traefikHeaders, nav...)...)
		if w.Code != http.StatusTemporaryRedirect || !strings.HasPrefix(w.Header().Get("Location"), "https://accounts.example.test/sign-in?redirect_url=https%3A%2F%2Fapp.example.test%2Fdashboard%3Ftab%3D1") {
			t.Fatalf("%d %s", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("auth-request answers 401 with Location, never 3xx", func(t *testing.T) {
		w := s.do("GET", "/auth-request", with(nginxHeaders, nav...)...)
		if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("Location"), "https://accounts.example.test/sign-in?") {
			t.Fatalf("%d %s", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("auth-request handshake carries one Set-Cookie", func(t *testing.T) {
		w := s.do("GET", "/auth-request", with(nginxHeaders, append(nav, "Cookie", "__client_uat=5")...)...)
		if w.Code != http.StatusUnauthorized || len(w.Header().Values("Set-Cookie")) != 1 || !strings.Contains(w.Header().Get("Location"), "/v1/client/handshake?") {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})
	t.Run("ext-authz redirects", func(t *testing.T) {
		w := s.do("GET", "/ext-authz/dashboard", with(envoyHeaders, nav...)...)
		if w.Code != http.StatusTemporaryRedirect {
			t.Fatalf("%d", w.Code)
		}
	})
}

func TestPolicyQuery(t *testing.T) {
	s := newTestService(t)
	claims := s.fake.SessionClaims("user_1").WithOrg("org_1", "acme", "admin", "o:invoices", "read,manage", "1")
	bearer := "Bearer " + s.fake.Sign(claims)
	tests := []struct {
		name, target string
		status       int
		reason       string
	}{
		{"org by slug", "/forward-auth?org=acme", 200, ""},
		{"org by id with role", "/forward-auth?org=org_1&role=admin", 200, ""},
		{"permission held", "/forward-auth?permission=org:invoices:read", 200, ""},
		{"permission not held", "/forward-auth?permission=org:invoices:manage", 403, "permission-missing"},
		{"role not held", "/forward-auth?role=org:billing", 403, "role-missing"},
		{"other org without a membership source", "/forward-auth?org=other", 403, "not-organization-member"},
		{"unknown parameter is a configuration error", "/forward-auth?orgs=acme", 500, "invalid-policy"},
		{"malformed permission is a configuration error", "/forward-auth?permission=invoices", 500, "invalid-policy"},
		{"auth query equal to the client's query (Caddy without ?)", "/forward-auth?tab=1", 500, "invalid-policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.do("GET", tt.target, with(traefikHeaders, "Authorization", bearer)...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.reason != "" && !strings.Contains(w.Body.String(), `"reason":"`+tt.reason+`"`) {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	s := newTestService(t)
	if w := s.do("GET", "/healthz"); w.Code != 200 {
		t.Fatalf("healthz %d", w.Code)
	}
	if w := s.do("GET", "/readyz"); w.Code != 503 {
		t.Fatalf("readyz before keys: %d", w.Code)
	}
	s.do("GET", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+s.fake.Sign(s.fake.SessionClaims("u")))...)
	if w := s.do("GET", "/readyz"); w.Code != 200 {
		t.Fatalf("readyz after keys: %d", w.Code)
	}
}

func TestNoTokenOrSecretInLogs(t *testing.T) {
	s := newTestService(t)
	now := time.Now()
	valid := s.fake.Sign(s.fake.SessionClaims("user_1"))
	expired := s.fake.Sign(clerktest.Claims{"sub": "user_1", "sid": "sess_1", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})
	other, _ := clerktest.NewSigningKey(s.fake.Key().Kid)
	forged := clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid}, s.fake.SessionClaims("user_1"))
	tokens := []string{valid, expired, forged}
	nav := []string{"Sec-Fetch-Dest", "document", "Accept", "text/html"}
	for _, tok := range tokens {
		for _, target := range []string{"/forward-auth", "/forward-auth?permission=org:x:y"} {
			s.do("GET", target, with(traefikHeaders, "Authorization", "Bearer "+tok)...)
			s.do("GET", target, with(traefikHeaders, append(nav, "Cookie", "__session="+tok+"; __client_uat=1")...)...)
			s.do("GET", target, with(traefikHeaders, append(nav, "Cookie", "__session="+tok)...)...)
		}
		s.do("GET", "/auth-request", with(nginxHeaders, "Cookie", "__session="+tok)...)
		s.do("GET", "/ext-authz/x", with(envoyHeaders, "Authorization", "Bearer "+tok)...)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"decision"`) {
		t.Fatal("no decision lines were logged")
	}
	for _, tok := range tokens {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(logs, sig) || strings.Contains(logs, tok[:40]) {
			t.Fatal("a token appears in the logs")
		}
	}
	if strings.Contains(logs, s.fake.SecretKey) {
		t.Fatal("the secret key appears in the logs")
	}
}
