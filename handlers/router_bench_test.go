package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// discardWriter is a ResponseWriter that keeps only the status and reuses
// its header map, so the benchmark measures the handler, not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkForwardAuth is one forwardAuth request through the router:
// reading the proxy's headers, the decision (token cache on), rendering
// the identity headers and the access log line.
func BenchmarkForwardAuth(b *testing.B) {
	env := authztest.New(b, authztest.Options{Fake: clerktest.Options{Production: true}, StaticKeys: true})
	token := env.Token("user_1", func(claims clerktest.Claims) {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		claims.WithOrg("org_2benchacmeorganization00001", "acme", "admin", "o:invoices,o:reports", "read,manage", "3,1")
	})

	for _, tc := range []struct {
		name   string
		logger *slog.Logger
		path   string
		token  string
		want   int
		// decideOnly: engine.Decide alone, no HTTP handler.
		decideOnly bool
	}{
		// The JSON logger as main builds it for LOG_FORMAT=json.
		{"valid, JSON access log", slog.New(observe.NewJSONHandler(io.Discard, nil)), "/forward-auth", token, 200, false},
		{"valid, no log", slog.New(slog.DiscardHandler), "/forward-auth", token, 200, false},
		{"valid, org rule, no log", slog.New(slog.DiscardHandler), "/forward-auth?org=acme&role=org:admin", token, 200, false},
		{"valid, org rule, JSON access log", slog.New(observe.NewJSONHandler(io.Discard, nil)), "/forward-auth?org=acme&role=org:admin", token, 200, false},
		{"garbage, JSON access log", slog.New(observe.NewJSONHandler(io.Discard, nil)), "/forward-auth", "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln", 401, false},
		// LOG_FORMAT=text keeps slog's path.
		{"valid, text access log", slog.New(slog.NewTextHandler(io.Discard, nil)), "/forward-auth", token, 200, false},
		{"valid, Decide alone", slog.New(slog.DiscardHandler), "/forward-auth", token, 200, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// A fresh verifier per case: each starts with a cold token cache.
			v := clerk.NewVerifier(env.Verifier.Keys(), clerk.VerifyOptions{TokenCacheSize: 50000})
			engine := authz.NewEngine(authz.Config{PublishableKey: env.PublishableKey}, v, authz.Options{})
			h := handlers.NewRouter(handlers.Options{Engine: engine, Logger: tc.logger})
			r, _ := http.NewRequest("GET", "http://127.0.0.1:8080"+tc.path, nil)
			r.RemoteAddr = "127.0.0.1:50000"
			r.Header = http.Header{
				"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"app.example.test"}, "X-Forwarded-Uri": {"/dashboard"},
				"X-Forwarded-For": {"203.0.113.7"}, "Accept": {"application/json"},
				"Authorization": {"Bearer " + tc.token},
			}
			w := &discardWriter{h: http.Header{}}
			if tc.decideOnly {
				// The decision alone, for the same request: what the
				// handler path adds is the difference.
				u, _ := url.Parse("https://app.example.test/dashboard")
				req := &authz.Request{Method: "GET", URL: u, Header: r.Header, ClientIP: "203.0.113.7"}
				b.ReportAllocs()
				for b.Loop() {
					if d := engine.Decide(r.Context(), req); d.Outcome != authz.Allow {
						b.Fatalf("outcome %v", d.Outcome)
					}
				}
				return
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
				if w.status != tc.want {
					b.Fatalf("status %d, want %d (%s)", w.status, tc.want, strings.Join(w.h.Values("X-Clerk-Auth-Reason"), ","))
				}
			}
		})
	}
}

// BenchmarkCachedDecision is one allowed request with a cached token
// through each auth endpoint's route, no access log: what routing adds is
// the largest share of it here, so it is the benchmark that decides the
// router (bench/README.md, "Routing").
func BenchmarkCachedDecision(b *testing.B) {
	env := authztest.New(b, authztest.Options{Fake: clerktest.Options{Production: true}, StaticKeys: true})
	token := env.Token("user_1", func(claims clerktest.Claims) { claims["exp"] = time.Now().Add(time.Hour).Unix() })
	v := clerk.NewVerifier(env.Verifier.Keys(), clerk.VerifyOptions{TokenCacheSize: 1000})
	engine := authz.NewEngine(authz.Config{PublishableKey: env.PublishableKey}, v, authz.Options{})
	h := handlers.NewRouter(handlers.Options{Engine: engine, Logger: slog.New(slog.DiscardHandler)})
	common := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "Accept": {"application/json"}, "Authorization": {"Bearer " + token}}
	for _, tc := range []struct {
		name, target, host string
		header             http.Header
	}{
		{"forward-auth", "/forward-auth", "127.0.0.1:8080", http.Header{
			"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.test"}, "X-Forwarded-Uri": {"/dashboard"}}},
		{"auth-request", "/auth-request", "app.example.test", http.Header{
			"X-Original-Method": {"GET"}, "X-Original-Url": {"https://app.example.test/dashboard"}}},
		{"ext-authz", "/ext-authz/dashboard", "app.example.test", http.Header{"X-Forwarded-Proto": {"https"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := http.NewRequest("GET", "http://"+tc.host+tc.target, nil)
			r.RemoteAddr = "127.0.0.1:50000"
			r.RequestURI = tc.target
			r.Header = tc.header.Clone()
			for k, v := range common {
				r.Header[k] = v
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d (%s)", w.status, strings.Join(w.h.Values("X-Clerk-Auth-Reason"), ","))
				}
			}
		})
	}
}
