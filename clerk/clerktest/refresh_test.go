package clerktest_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestFakeHandshakeMintsForTheReturnOriginAndSetsTheRefreshCookie(t *testing.T) {
	for _, production := range []bool{true, false} {
		e := newFAPIEnv(t, production)
		s := e.fake.NewSession("user_9")
		resp := e.handshake(t, url.Values{"redirect_url": {"https://shop.example.test:8443/cart?x=1"}, "__clerk_db_jwt": {s.Credential}}, e.fake.CredentialCookie(s))
		d, _ := e.directives(t, resp)
		tok, err := e.verifier.VerifyToken(context.Background(), sessionOf(d))
		if err != nil || tok.AuthorizedParty != "https://shop.example.test:8443" || tok.SessionID != s.SessionID {
			t.Fatalf("production=%v: session %v %+v", production, err, tok)
		}
		refresh := ""
		for _, x := range d {
			if clerk.DirectiveName(x) == e.fake.RefreshCookieName() {
				refresh = x
			}
		}
		if refresh != e.fake.RefreshCookieName()+"="+s.RefreshToken+"; Path=/; HttpOnly; SameSite=Lax" || s.RefreshToken == "" {
			t.Fatalf("production=%v: refresh directive %q", production, refresh)
		}
	}
}

func TestFakeHandshakeOfASignedOutBrowserDeletesTheRefreshCookie(t *testing.T) {
	e := newFAPIEnv(t, true)
	s := e.fake.NewSession("user_9")
	e.fake.RevokeSession(s.SessionID)
	d, _ := e.directives(t, e.handshake(t, url.Values{"redirect_url": {"https://app.test/"}}, e.fake.CredentialCookie(s)))
	found := false
	for _, x := range d {
		if x == e.fake.RefreshCookieName()+"=; Path=/; Max-Age=0; SameSite=Lax" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no refresh deletion in %q", d)
	}
}

func TestFakeRefreshRouteIsABackendAPIRoute(t *testing.T) {
	e := newFAPIEnv(t, true)
	s := e.fake.NewSession("user_9")
	bad, err := clerk.NewAPI(e.fake.URL, "v1", "sk_live_wrong", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.RefreshSession(context.Background(), clerk.RefreshRequest{SessionID: s.SessionID, RefreshToken: s.RefreshToken})
	if re, ok := err.(*clerk.RefreshError); !ok || re.Reason != "clerk_key_invalid" {
		t.Fatalf("wrong secret key: %v", err)
	}
	if e.fake.Calls(clerktest.RouteRefreshSession) != 1 {
		t.Fatalf("calls %d", e.fake.Calls(clerktest.RouteRefreshSession))
	}
}
