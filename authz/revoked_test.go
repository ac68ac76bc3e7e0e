package authz

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// sessionEnv is an engine with a deny list and, optionally, the session
// check, on a clock the test moves.
type sessionEnv struct {
	fake   *clerktest.Server
	engine *Engine
	deny   *SessionDenyList
	clock  atomic.Int64
}

func (e *sessionEnv) now() time.Time { return time.Unix(0, e.clock.Load()) }

func newSessionEnv(t *testing.T, check bool) *sessionEnv {
	t.Helper()
	env := &sessionEnv{}
	env.clock.Store(time.Now().UnixNano())
	fake, pk, api := newFakeClerk(t, clerktest.Options{Production: true, Now: env.now})
	fake.SetRateLimit(1 << 20)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{Now: env.now, TokenCacheSize: 100})
	env.fake, env.deny = fake, NewSessionDenyList(0, 0, env.now)
	opts := Options{Revoked: env.deny}
	if check {
		sc, err := NewSessionCheck(api, SessionCheckOptions{TTL: 5 * time.Second, Now: env.now})
		if err != nil {
			t.Fatal(err)
		}
		opts.SessionCheck = sc
	}
	env.engine = NewEngine(Config{PublishableKey: pk, Now: env.now}, v, opts)
	return env
}

// tokenFor is a session token of s, valid for a minute from the env's now.
func (e *sessionEnv) tokenFor(s clerktest.Session) string {
	c := e.fake.SessionClaims(s.UserID)
	c["sid"] = s.SessionID
	return e.fake.Sign(c)
}

func (e *sessionEnv) decide(token string, rule *Rule, browserNav bool) Decision {
	r := req(http.MethodGet, "Authorization", "Bearer "+token)
	if browserNav {
		r = browser(r)
	}
	r.Rule = rule
	return e.engine.Decide(context.Background(), r)
}

func TestARevokedSessionIsDeniedUntilItsTokensHaveExpired(t *testing.T) {
	env := newSessionEnv(t, false)
	gone, kept := env.fake.NewSession("user_gone"), env.fake.NewSession("user_kept")
	goneToken, keptToken := env.tokenFor(gone), env.tokenFor(kept)
	wantDecision(t, env.decide(goneToken, nil, false), Allow, "")
	env.deny.Add(gone.SessionID)
	tests := []struct {
		name    string
		token   string
		rule    *Rule
		browser bool
		outcome Outcome
		reason  clerk.Reason
	}{
		{"the revoked session, cached token", goneToken, nil, false, Unauthenticated, ReasonSessionRevoked},
		{"a browser goes to sign in", goneToken, nil, true, SignIn, ReasonSessionRevoked},
		{"a public route lets it through anonymously", goneToken, &Rule{Public: true}, false, Allow, ReasonSessionRevoked},
		{"another session of the instance", keptToken, nil, false, Allow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.decide(tt.token, tt.rule, tt.browser)
			wantDecision(t, d, tt.outcome, tt.reason)
			if tt.rule != nil && tt.rule.Public && d.Identity.UserID != "" {
				t.Fatalf("public route answered for %q", d.Identity.UserID)
			}
		})
	}
	// The entry outlives every token of the session, then goes.
	env.clock.Add(int64(DefaultDenyTTL))
	if env.deny.Revoked(gone.SessionID) {
		t.Fatal("the entry outlived its TTL")
	}
}

func TestTheDenyListIsBoundedAndKeepsTheNewest(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	d := NewSessionDenyList(time.Minute, 3, func() time.Time { return clock })
	for _, sid := range []string{"sess_1", "sess_2", "sess_3", "sess_4", "sess_5"} {
		clock = clock.Add(time.Second)
		d.Add(sid)
	}
	if d.Len() != 3 || d.Revoked("sess_1") || d.Revoked("sess_2") || !d.Revoked("sess_5") {
		t.Fatalf("len %d; sess_1 %v, sess_5 %v: want the three newest", d.Len(), d.Revoked("sess_1"), d.Revoked("sess_5"))
	}
	d.Add("")
	if d.Len() != 3 {
		t.Fatal("an empty session id was added")
	}
}

func TestMergedSessionsAreDeniedUntilTheirTimeAndNoLongerThanTheTTL(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	d := NewSessionDenyList(time.Minute, 10, func() time.Time { return clock })
	d.Add("sess_held")
	d.Merge(map[string]time.Time{
		"sess_soon": clock.Add(10 * time.Second),
		"sess_past": clock.Add(-time.Second),     // already over: not added
		"sess_far":  clock.Add(24 * time.Hour),   // bounded by the TTL
		"sess_held": clock.Add(5 * time.Second),  // an earlier time does not shorten it
		"":          clock.Add(10 * time.Second), // no session id
	})
	for sid, want := range map[string]bool{"sess_soon": true, "sess_past": false, "sess_far": true, "sess_held": true, "": false} {
		if got := d.Revoked(sid); got != want {
			t.Errorf("now: Revoked(%q) = %v, want %v", sid, got, want)
		}
	}
	if d.Len() != 3 {
		t.Errorf("len %d, want 3", d.Len())
	}
	clock = clock.Add(30 * time.Second)
	if d.Revoked("sess_soon") || !d.Revoked("sess_held") || !d.Revoked("sess_far") {
		t.Errorf("after 30 s: soon %v held %v far %v, want false true true", d.Revoked("sess_soon"), d.Revoked("sess_held"), d.Revoked("sess_far"))
	}
	clock = clock.Add(31 * time.Second)
	if d.Revoked("sess_far") || d.Revoked("sess_held") {
		t.Error("an entry outlived the TTL")
	}
}

func TestSessionCheckAlwaysAsksClerkOncePerTTL(t *testing.T) {
	env := newSessionEnv(t, true)
	s := env.fake.NewSession("user_c")
	token := env.tokenFor(s)
	for range 5 {
		wantDecision(t, env.decide(token, nil, false), Allow, "")
	}
	if n := env.fake.Calls(clerktest.RouteGetSession); n != 1 {
		t.Fatalf("%d session lookups for 5 requests within the TTL, want 1", n)
	}
	env.fake.RevokeSession(s.SessionID)
	wantDecision(t, env.decide(token, nil, false), Allow, "") // Clerk's answer is reused for the TTL
	env.clock.Add(int64(5 * time.Second))
	wantDecision(t, env.decide(token, nil, false), Unauthenticated, ReasonSessionRevoked)
	// A session Clerk does not know is not active either.
	stranger := env.fake.Sign(env.fake.SessionClaims("user_x"))
	wantDecision(t, env.decide(stranger, nil, false), Unauthenticated, ReasonSessionRevoked)
	// Clerk down with nothing cached: 503, never 200.
	other := env.tokenFor(env.fake.NewSession("user_d"))
	env.fake.FailWith(http.StatusInternalServerError, 0)
	wantDecision(t, env.decide(other, nil, false), Unavailable, ReasonSessionCheck)
}
