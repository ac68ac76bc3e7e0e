package authz

import (
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// TestAmbiguousCredentialsAreRefused: when a request carries credentials
// that can be read more than one way, the answer is 401 token-invalid,
// never the identity of whichever one came first, on public routes too.
func TestAmbiguousCredentialsAreRefused(t *testing.T) {
	e := newTestEnv(t, true, nil)
	alice := e.token(nil)
	bob := e.fake.Sign(e.fake.SessionClaims("user_bob"))
	uat := "__client_uat=1"
	for _, tc := range []struct {
		name    string
		headers []string
		public  bool
	}{
		{"two Bearer tokens of different users", []string{"Authorization", "Bearer " + alice, "Authorization", "Bearer " + bob}, false},
		{"garbage, then a valid Bearer token", []string{"Authorization", "Bearer garbage", "Authorization", "Bearer " + alice}, false},
		{"the same token twice", []string{"Authorization", "Bearer " + alice, "Authorization", "Bearer " + alice}, false},
		{"two Bearer tokens merged by a proxy", []string{"Authorization", "Bearer " + bob + ",Bearer " + alice}, false},
		{"garbage and a Bearer token merged by a proxy", []string{"Authorization", "garbage, Bearer " + alice}, false},
		{"Cookie headers with different __session values", []string{"Cookie", uat + "; __session=" + alice, "Cookie", "__session=" + bob}, false},
		{"Cookie headers with different suffixed session values", []string{"Cookie", uat + "; __session_" + e.suffix + "=" + alice, "Cookie", "__session_" + e.suffix + "=" + bob}, false},
		{"two Bearer tokens on a public route", []string{"Authorization", "Bearer " + alice, "Authorization", "Bearer " + bob}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req("GET", tc.headers...)
			r.Rule = &Rule{Public: tc.public}
			d := e.decide(r)
			if d.Outcome != Unauthenticated || d.Reason != clerk.ReasonTokenInvalid || d.Identity.UserID != "" {
				t.Fatalf("got %v %q (user %q), want unauthenticated %q", d.Outcome, d.Reason, d.Identity.UserID, clerk.ReasonTokenInvalid)
			}
		})
	}
}

// TestCredentialsReadOneWayAreNotAmbiguous: a Cookie header split in
// several (HTTP/2), repeated session cookies that agree, and other
// schemes' commas are still decided as usual.
func TestCredentialsReadOneWayAreNotAmbiguous(t *testing.T) {
	e := newTestEnv(t, true, nil)
	alice := e.token(nil)
	for _, tc := range []struct {
		name    string
		headers []string
		want    Outcome
	}{
		{"one Bearer token", []string{"Authorization", "Bearer " + alice}, Allow},
		{"a Cookie header split in two", []string{"Cookie", "__client_uat=1", "Cookie", "__session=" + alice}, Allow},
		{"two Cookie headers with the same session", []string{"Cookie", "__client_uat=1; __session=" + alice, "Cookie", "__session=" + alice}, Allow},
		{"a Digest header's commas, with a session cookie", []string{"Authorization", `Digest username="a", realm="b"`, "Cookie", "__client_uat=1; __session=" + alice}, Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.decide(req("GET", tc.headers...))
			if d.Outcome != tc.want {
				t.Fatalf("got %v %q, want %v", d.Outcome, d.Reason, tc.want)
			}
		})
	}
}
