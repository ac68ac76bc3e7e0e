package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
)

const notFoundBody = `{"error":"not_found","reason":"unknown endpoint"}` + "\n"

// routed names the handler that answered a request the routing tests send
// (X-Forwarded-Method and X-Forwarded-Proto only, no token, Host
// app.example.test): each endpoint stops at a different point for it.
func routed(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	body := w.Body.String()
	switch {
	case w.Code == http.StatusBadRequest && strings.Contains(body, "missing original host"):
		return "forward-auth" // reads X-Forwarded-Host, absent
	case w.Code == http.StatusBadRequest && strings.Contains(body, "missing original method"):
		return "auth-request" // reads X-Original-Method, absent
	case w.Code == http.StatusUnauthorized:
		return "ext-authz" // reads Host and the path: a decision, no token
	case w.Code == http.StatusTemporaryRedirect && w.Header().Get("Location") == "https://app.example.test/":
		return "callback" // no redirect_url: back to /
	case w.Code == http.StatusOK && body == "ok\n":
		return "healthz"
	case strings.Contains(body, `"checks"`):
		return "readyz"
	case w.Code == http.StatusOK && body == "metrics\n":
		return "metrics"
	case w.Code == http.StatusAccepted && body == "webhook\n":
		return "webhook"
	case w.Code == http.StatusNotFound && body == notFoundBody && w.Header().Get("Content-Type") == "application/json":
		return "404"
	case w.Code == http.StatusMethodNotAllowed && body == "":
		return "405 Allow:" + strings.Join(w.Header().Values("Allow"), ",")
	}
	t.Fatalf("unrecognised reply %d %v %q", w.Code, w.Header(), body)
	return ""
}

// TestRoutes pins what answers each method and path: the exact auth
// paths take every common method, /ext-authz (and everything under
// /ext-authz/) every method, left to its reader; the path is matched as
// sent, escapes included, and never cleaned; health and the callback are
// GET only; anything else is a JSON 404, and a method outside the common
// set a 405 on any other path.
func TestRoutes(t *testing.T) {
	tests := []struct {
		name, method, target, want string
		callbackPath               string // default /_auth/callback
		noMetrics                  bool   // nor a webhook handler
	}{
		{"forward-auth", "GET", "/forward-auth", "forward-auth", "", false},
		{"forward-auth takes any common method", "POST", "/forward-auth", "forward-auth", "", false},
		{"forward-auth with a rule query", "GET", "/forward-auth?org=acme", "forward-auth", "", false},
		{"auth-request", "GET", "/auth-request", "auth-request", "", false},
		{"auth-request with an empty query", "HEAD", "/auth-request?", "auth-request", "", false},
		{"ext-authz bare prefix", "GET", "/ext-authz", "ext-authz", "", false},
		{"ext-authz prefix with a slash", "GET", "/ext-authz/", "ext-authz", "", false},
		{"ext-authz with a path and query", "DELETE", "/ext-authz/dashboard?tab=1", "ext-authz", "", false},
		{"ext-authz with a query only", "PUT", "/ext-authz?x=1", "ext-authz", "", false},
		{"ext-authz passes an escaped slash on to the reader", "GET", "/ext-authz/a%2Fb", "ext-authz-400", "", false},
		{"ext-authz passes a double slash on to the reader", "GET", "/ext-authz//x", "ext-authz-400", "", false},
		{"callback", "GET", "/_auth/callback", "callback", "", false},
		{"callback is GET only", "POST", "/_auth/callback", "405 Allow:GET", "", false},
		{"callback HEAD is not GET", "HEAD", "/_auth/callback", "405 Allow:GET", "", false},
		{"callback at CALLBACK_PATH", "GET", "/oauth/done", "callback", "/oauth/done", false},
		{"default callback path is unknown once moved", "GET", "/_auth/callback", "404", "/oauth/done", false},
		{"callback under /ext-authz/ wins for GET", "GET", "/ext-authz/cb", "callback", "/ext-authz/cb", false},
		{"callback under /ext-authz/ leaves other methods to ext-authz", "POST", "/ext-authz/cb", "ext-authz", "/ext-authz/cb", false},
		{"healthz", "GET", "/healthz", "healthz", "", false},
		{"healthz is GET only", "POST", "/healthz", "405 Allow:GET", "", false},
		{"readyz", "GET", "/readyz", "readyz", "", false},
		{"readyz is GET only", "HEAD", "/readyz", "405 Allow:GET", "", false},
		{"metrics", "GET", "/metrics", "metrics", "", false},
		{"metrics without a handler", "GET", "/metrics", "404", "", true},
		{"trailing slash is another path", "GET", "/forward-auth/", "404", "", false},
		{"path below an exact route", "GET", "/auth-request/x", "404", "", false},
		{"prefix without its slash", "GET", "/ext-authzx", "404", "", false},
		{"escaped letter is not unescaped", "GET", "/forward%2Dauth", "404", "", false},
		{"case matters", "GET", "/Forward-Auth", "404", "", false},
		{"double slash is not cleaned", "GET", "//forward-auth", "404", "", false},
		{"root", "GET", "/", "404", "", false},
		{"unknown path", "GET", "/nope", "404", "", false},
		{"unknown method on an auth route", "PROPFIND", "/forward-auth", "405 Allow:", "", false},
		{"unknown method on an unknown path", "PROPFIND", "/nope", "405 Allow:", "", false},
		{"methods are case-sensitive", "get", "/forward-auth", "405 Allow:", "", false},
		{"ext-authz takes a WebDAV method (the original's)", "PROPFIND", "/ext-authz/x", "ext-authz", "", false},
		{"ext-authz leaves a lower-case method to its reader", "get", "/ext-authz/x", "ext-authz-400", "", false},
		{"webhook", "POST", "/_auth/webhooks/clerk", "webhook", "", false},
		{"webhook takes its own methods", "GET", "/_auth/webhooks/clerk", "webhook", "", false},
		{"webhook path below it", "POST", "/_auth/webhooks/clerk/x", "404", "", false},
		{"no webhook route without a handler", "POST", "/_auth/webhooks/clerk", "404", "", true},
	}
	engines := map[string]*authz.Engine{} // by callback path
	for _, tc := range tests {
		if cb := callbackPathOr(tc.callbackPath); engines[cb] == nil {
			engines[cb] = authztest.New(t, authztest.Options{Fake: clerktest.Options{Production: true}, StaticKeys: true, Config: authz.Config{CallbackPath: cb}}).Engine
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cb := callbackPathOr(tc.callbackPath)
			o := handlers.Options{Engine: engines[cb]}
			if !tc.noMetrics { // and no webhook either
				o.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics\n")) })
				o.WebhookPath = "/_auth/webhooks/clerk"
				o.Webhook = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write([]byte("webhook\n"))
				})
			}
			r := httptest.NewRequest("GET", "http://app.example.test"+tc.target, nil)
			r.Method, r.RequestURI = tc.method, tc.target
			r.Header.Set("X-Forwarded-Method", "GET")
			r.Header.Set("X-Forwarded-Proto", "https")
			w := httptest.NewRecorder()
			handlers.NewRouter(o).ServeHTTP(w, r)
			if tc.want == "ext-authz-400" {
				// The router hands the path over as sent; the reader refuses it.
				if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"error":"bad_request"`) {
					t.Fatalf("%s %s: %d %q, want the ext-authz reader's 400", tc.method, tc.target, w.Code, w.Body)
				}
				return
			}
			if got := routed(t, w); got != tc.want {
				t.Errorf("%s %s answered by %s, want %s", tc.method, tc.target, got, tc.want)
			}
		})
	}
}

func callbackPathOr(p string) string {
	if p == "" {
		return "/_auth/callback"
	}
	return p
}
