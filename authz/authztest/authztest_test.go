package authztest_test

import (
	"context"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

const routeJWKS = "GET /v1/jwks"

func TestEnvWiresKeysVerifierAndEngine(t *testing.T) {
	other, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, tc := range []struct {
		name      string
		opts      authztest.Options
		want      authz.Outcome
		jwksCalls int // on the instance serving the Backend API
	}{
		{"remote keys fetch the JWKS on first use", authztest.Options{Fake: clerktest.Options{Production: true}}, authz.Allow, 1},
		{"static keys never fetch the JWKS", authztest.Options{StaticKeys: true}, authz.Allow, 0},
		{"another instance's keys reject the fake's tokens", authztest.Options{Fake: clerktest.Options{Production: true}, Backend: other}, authz.Unauthenticated, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other.ResetCalls()
			env := authztest.New(t, tc.opts)
			backend := env.Fake
			if tc.opts.Backend != nil {
				backend = tc.opts.Backend
			}
			tok := env.Token("user_1", func(c clerktest.Claims) { c["sid"] = "sess_wired" })
			d := env.Engine.Decide(context.Background(), authztest.Request("GET", "Authorization", "Bearer "+tok))
			if d.Outcome != tc.want {
				t.Fatalf("outcome %v (%s), want %v", d.Outcome, d.Reason, tc.want)
			}
			if tc.want == authz.Allow && (d.Identity.UserID != "user_1" || d.Identity.SessionID != "sess_wired") {
				t.Fatalf("identity %+v", d.Identity)
			}
			if n := backend.Calls(routeJWKS); n != tc.jwksCalls {
				t.Fatalf("%d JWKS calls, want %d", n, tc.jwksCalls)
			}
		})
	}
}

func TestPrefetchKeysLoadsTheJWKSBeforeTheFirstDecision(t *testing.T) {
	env := authztest.New(t, authztest.Options{PrefetchKeys: true})
	if n := env.Fake.Calls(routeJWKS); n != 1 {
		t.Fatalf("%d JWKS calls after New, want 1", n)
	}
}

// publicPolicy makes every route public.
type publicPolicy struct{}

func (publicPolicy) Match(_, _, _ string) *authz.Rule { return &authz.Rule{Public: true} }

func TestLogSendsTheEngineLogToLogs(t *testing.T) {
	for _, log := range []bool{false, true} {
		env := authztest.New(t, authztest.Options{Log: log})
		// A nonce with no Backend API client to redeem it: the engine logs an error.
		env.Engine.Decide(context.Background(), authztest.Request("GET", "Cookie", "__clerk_handshake_nonce=n1", "Sec-Fetch-Dest", "document", "Accept", "text/html"))
		if got := env.Logs.String() != ""; got != log {
			t.Fatalf("Log %v: engine lines in Logs = %v: %q", log, got, env.Logs.String())
		}
	}
}

func TestSetupSeesTheWiringAndItsConfigAndOptionsReachTheEngine(t *testing.T) {
	var api *clerk.API
	env := authztest.New(t, authztest.Options{Setup: func(e *authztest.Env, cfg *authz.Config, o *authz.Options) {
		if e.Fake == nil || e.Verifier == nil || e.Engine != nil {
			t.Errorf("Setup saw %+v", e)
		}
		api = e.API
		cfg.CallbackPath = "/_wired/callback"
		o.Policy = publicPolicy{}
	}})
	if api == nil || api != env.API {
		t.Fatal("Setup did not get the Backend API client")
	}
	if got := env.Engine.CallbackPath(); got != "/_wired/callback" {
		t.Fatalf("callback path %q", got)
	}
	if d := env.Engine.Decide(context.Background(), authztest.Request("GET")); d.Outcome != authz.Allow {
		t.Fatalf("signed out on a public route: %v (%s)", d.Outcome, d.Reason)
	}
}
