package clerk_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

type refreshEnv struct {
	fake    *clerktest.Server
	api     *clerk.API
	session clerktest.Session
	expired string
}

func newRefreshEnv(t *testing.T) *refreshEnv {
	t.Helper()
	fake, api := newFakeAPI(t)
	s := fake.NewSession("user_r")
	c := fake.SessionClaims("user_r")
	now := time.Now().Unix()
	c["sid"], c["iat"], c["exp"] = s.SessionID, now-120, now-60
	return &refreshEnv{fake: fake, api: api, session: s, expired: fake.Sign(c)}
}

func (e *refreshEnv) request() clerk.RefreshRequest {
	return clerk.RefreshRequest{
		SessionID:      e.session.SessionID,
		ExpiredToken:   e.expired,
		RefreshToken:   e.session.RefreshToken,
		RequestOrigin:  "https://app.example.test",
		RequestHeaders: map[string][]string{"user-agent": {"test-browser"}},
	}
}

func TestRefreshSessionSendsWhatTheSDKSendsAndReturnsTheCookies(t *testing.T) {
	for _, suffixed := range []bool{false, true} {
		e := newRefreshEnv(t)
		r := e.request()
		r.SuffixedCookies = suffixed
		cookies, err := e.api.RefreshSession(context.Background(), r)
		if err != nil {
			t.Fatalf("suffixed=%v: %v", suffixed, err)
		}
		calls := e.fake.RefreshCalls()
		if len(calls) != 1 {
			t.Fatalf("%d calls", len(calls))
		}
		c := calls[0]
		wantQuery := map[bool]string{false: "", true: "true"}[suffixed]
		if c.SessionID != e.session.SessionID || c.Format != "cookie" || c.ExpiredToken != e.expired || c.RefreshToken != e.session.RefreshToken ||
			c.RequestOrigin != "https://app.example.test" || c.RequestHeaders["user-agent"][0] != "test-browser" || c.SuffixedCookies != wantQuery {
			t.Fatalf("suffixed=%v: request %+v", suffixed, c)
		}
		wantNames := []string{"__session"}
		if suffixed {
			wantNames = append(wantNames, "__session_"+e.fake.CookieSuffix())
		}
		var names []string
		for _, d := range cookies {
			names = append(names, clerk.DirectiveName(d))
		}
		if strings.Join(names, ",") != strings.Join(wantNames, ",") {
			t.Fatalf("suffixed=%v: cookies %v, want %v", suffixed, names, wantNames)
		}
		tok, err := clerk.DecodeJWT(clerk.DirectiveValue(cookies[len(cookies)-1]))
		if err != nil || tok.Claims.SessionID != e.session.SessionID || tok.Claims.AuthorizedParty != "https://app.example.test" || tok.Claims.Subject != "user_r" {
			t.Fatalf("new token: %v %+v", err, tok)
		}
	}
}

func TestRefreshSessionMapsFailuresToTheSDKSubReasons(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *refreshEnv, r *clerk.RefreshRequest)
		want  clerk.Reason
	}{
		{"wrong refresh token: Clerk's 401 code", func(e *refreshEnv, r *clerk.RefreshRequest) { r.RefreshToken = "stolen" }, "authentication_invalid"},
		{"revoked session: Clerk's 404 code", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.RevokeSession(e.session.SessionID) }, "resource_not_found"},
		{"expired token of another session", func(e *refreshEnv, r *clerk.RefreshRequest) {
			r.ExpiredToken = e.fake.Sign(e.fake.SessionClaims("user_r"))
		}, "authentication_invalid"},
		{"5xx carries its code", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.FailWith(http.StatusServiceUnavailable, 0) }, "internal_clerk_error"},
		{"rate limited", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.FailWith(http.StatusTooManyRequests, time.Second) }, "too_many_requests"},
		{"error answer without errors", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(502, "text/html", "<html>bad gateway</html>")
		}, clerk.RefreshUnexpectedBAPIError},
		{"error answer labelled JSON that is not", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(502, "", "<html>bad gateway</html>")
		}, clerk.RefreshFetchError},
		{"Clerk's error shape with another content type", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(401, "application/json; charset=utf-8", `{"errors":[{"code":"authentication_invalid"}]}`)
		}, clerk.RefreshUnexpectedBAPIError},
		{"2xx that is not labelled JSON", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(200, "text/plain", `{"object":"cookies","cookies":["__session=x"]}`)
		}, clerk.RefreshUnexpectedSDKError},
		{"empty errors list", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.SetRefreshResponse(500, "", `{"errors":[]}`) }, clerk.RefreshUnexpectedBAPIError},
		{"unexpected_error code reads fetch-error", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(500, "", `{"errors":[{"code":"unexpected_error"}]}`)
		}, clerk.RefreshFetchError},
		{"error without a code", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(400, "", `{"errors":[{"message":"x"}]}`)
		}, clerk.RefreshUnexpectedSDKError},
		{"2xx that is not JSON", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.SetRefreshResponse(200, "", "ok") }, clerk.RefreshFetchError},
		{"2xx without cookies", func(e *refreshEnv, r *clerk.RefreshRequest) {
			e.fake.SetRefreshResponse(200, "", `{"object":"cookies","cookies":[]}`)
		}, clerk.RefreshUnexpectedSDKError},
		{"2xx with non-string cookies", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.SetRefreshResponse(200, "", `{"cookies":[1]}`) }, clerk.RefreshUnexpectedSDKError},
		{"no answer", func(e *refreshEnv, r *clerk.RefreshRequest) { e.fake.Close() }, clerk.RefreshFetchError},
		{"no sid", func(e *refreshEnv, r *clerk.RefreshRequest) { r.SessionID = "" }, clerk.RefreshExpiredTokenMissingSidClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRefreshEnv(t)
			r := e.request()
			tt.setup(e, &r)
			cookies, err := e.api.RefreshSession(context.Background(), r)
			var re *clerk.RefreshError
			if !errors.As(err, &re) || cookies != nil {
				t.Fatalf("cookies %q, err %v: want a *RefreshError", cookies, err)
			}
			if re.Reason != tt.want {
				t.Fatalf("reason %q, want %q (%v)", re.Reason, tt.want, err)
			}
			if strings.Contains(err.Error(), e.session.RefreshToken) || strings.Contains(err.Error(), e.expired) {
				t.Fatal("error message carries a token")
			}
		})
	}
}
