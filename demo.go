package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// runDemo starts the service against an in-process fake Clerk on loopback,
// so that anyone can try it without a Clerk account, and prints tokens and
// curl lines for allowed and denied requests.
func runDemo(w io.Writer) int {
	// The fake Clerk lets in whoever holds the tokens printed below. Where
	// Clerk keys are set ("demo" given to a deployment), the demo would
	// stand in for the real service on its LISTEN_ADDR: refuse instead.
	for _, name := range []string{"CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY", "CLERK_JWT_KEY", "CLERK_MACHINE_SECRET_KEY"} {
		if os.Getenv(name) != "" {
			fmt.Fprintf(os.Stderr, "demo: %s is set: the demo answers from a fake Clerk and must not stand in for a configured service; unset it to try the demo\n", name)
			return 2
		}
	}
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: start fake Clerk: %v\n", err)
		return 1
	}
	defer fake.Close()
	listen := os.Getenv("LISTEN_ADDR")
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	cfg := &Config{
		SecretKey: fake.SecretKey, PublishableKey: fake.PublishableKey,
		APIURL: fake.URL, APIVersion: "v1", ListenAddr: listen,
		CallbackPath: "/_auth/callback", LogLevel: "info", LogFormat: "text",
		JWKSCacheTTL: 5 * time.Minute, JWKSMinRefetch: 5 * time.Second,
		APITimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, logger, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}

	// Real Clerk session tokens live 60 seconds; the demo's live an hour so
	// the curl lines keep working while you read.
	claims := fake.SessionClaims("user_demo_alice")
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	claims.WithOrg("org_demo_acme", "acme", "admin", "o:invoices", "read,manage", "3")
	token := fake.Sign(claims)
	expired := fake.SessionClaims("user_demo_bob")
	expired["iat"], expired["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	expiredToken := fake.Sign(expired)

	// An API key of alice's, for routes that accept API keys.
	apiKey, _ := fake.AddAPIKey(clerktest.APIKey{Subject: "user_demo_alice", Name: "demo", Scopes: []string{"invoices:read"}})
	m2m, _ := fake.AddM2MToken("mch_demo_worker", []string{"jobs:run"}, time.Time{})
	base := "http://" + addr
	fwd := `-H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: app.example.test' -H 'X-Forwarded-Uri: /dashboard'`
	if _, err := fmt.Fprintf(w, `
clerk-forward-auth demo: the service listens on %[1]s, verifying against a fake Clerk
instance at %[2]s (publishable key %[3]s).

A session token for user_demo_alice (active org "acme", role org:admin, valid 1 hour):

  TOKEN=%[4]s

Allowed (200 with X-Auth-* identity headers), as Traefik or Caddy would ask:
  curl -i %[1]s/forward-auth %[5]s -H "Authorization: Bearer $TOKEN"

Allowed by an organization rule on the auth URL (role org:admin in org acme):
  curl -i '%[1]s/forward-auth?org=acme&role=org:admin' %[5]s -H "Authorization: Bearer $TOKEN"

Forbidden (403): the rule needs a permission alice does not hold:
  curl -i '%[1]s/forward-auth?permission=org:billing:manage' %[5]s -H "Authorization: Bearer $TOKEN"

Not signed in, API call (401 JSON, reason session-token-and-uat-missing):
  curl -i %[1]s/forward-auth %[5]s

Not signed in, browser navigation (307 to sign-in with redirect_url):
  curl -i %[1]s/forward-auth %[5]s -H 'Accept: text/html'

Expired token (401, reason token-expired):
  curl -i %[1]s/forward-auth %[5]s -H "Authorization: Bearer %[6]s"

NGINX auth_request dialect (401 with Location for browsers, never a 3xx):
  curl -i %[1]s/auth-request -H 'X-Original-URL: https://app.example.test/dashboard' -H 'X-Original-Method: GET' -H "Authorization: Bearer $TOKEN"

Envoy ext_authz HTTP dialect (original path after /ext-authz):
  curl -i %[1]s/ext-authz/dashboard -H 'Host: app.example.test' -H 'X-Forwarded-Proto: https' -H "Authorization: Bearer $TOKEN"

An API key on a route that accepts them, with a scope (200, X-Auth-Token-Type: api_key):
  curl -i '%[1]s/forward-auth?token=api_key&scope=invoices:read' %[5]s -H "Authorization: Bearer %[7]s"

An M2M token on the same route (401, reason token-type-mismatch):
  curl -i '%[1]s/forward-auth?token=api_key' %[5]s -H "Authorization: Bearer %[8]s"

Press Ctrl-C to stop.
`, base, fake.URL, fake.PublishableKey, token, fwd, expiredToken, apiKey, m2m); err != nil {
		// The curl lines are the demo; without them it has no use.
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	if err := <-errc; err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}
