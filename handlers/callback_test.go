package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
)

func newCallbackRouter(t *testing.T, allowed []string) (*clerktest.Server, http.Handler) {
	t.Helper()
	env := authztest.New(t, authztest.Options{
		Fake:   clerktest.Options{Production: true},
		Config: authz.Config{CallbackPath: "/_auth/callback", AllowedRedirectHosts: allowed},
		Setup:  func(e *authztest.Env, _ *authz.Config, o *authz.Options) { o.HandshakePayloads = e.API },
	})
	return env.Fake, handlers.NewRouter(handlers.Options{Engine: env.Engine})
}

// callback sends the browser's request as NGINX forwards it: Host $host,
// X-Forwarded-Proto $scheme.
func callback(h http.Handler, rawQuery string, cookies ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/_auth/callback?"+rawQuery, nil)
	r.Host = "app.example.test"
	r.Header.Set("X-Forwarded-Proto", "https")
	if len(cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestCallbackCompletesHandshakeAndRedirects(t *testing.T) {
	fake, h := newCallbackRouter(t, nil)
	dirs := []string{
		"__clerk_handshake=; Path=/; Max-Age=0",
		"__session=" + fake.Sign(fake.SessionClaims("user_1")) + "; Path=/; SameSite=Lax",
		"__client_uat=1700000000; Path=/; Max-Age=315360000; SameSite=Lax",
	}
	w := callback(h, "redirect_url="+url.QueryEscape("https://app.example.test/orig?x=1"), "__clerk_handshake="+fake.HandshakeToken(dirs))
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "https://app.example.test/orig?x=1" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
	}
	if got := w.Header().Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(dirs, "\n") {
		t.Fatalf("Set-Cookie\n%q\nwant each directive verbatim\n%q", got, dirs)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}

	// Nonce in the query, relative redirect_url.
	nonce := fake.AddHandshakeNonce(dirs)
	w = callback(h, "redirect_url=%2Fother&__clerk_handshake_nonce="+nonce)
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "https://app.example.test/other" || len(w.Header().Values("Set-Cookie")) != 3 {
		t.Fatalf("nonce: %d %q %q", w.Code, w.Header().Get("Location"), w.Header().Values("Set-Cookie"))
	}
}

func TestCallbackWithoutHandshakeJustRedirects(t *testing.T) {
	_, h := newCallbackRouter(t, nil)
	w := callback(h, "redirect_url="+url.QueryEscape("https://app.example.test/p"))
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "https://app.example.test/p" || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("%d %q %q", w.Code, w.Header().Get("Location"), w.Header().Values("Set-Cookie"))
	}
	w = callback(h, "")
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "https://app.example.test/" {
		t.Fatalf("no redirect_url: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestCallbackForgedHandshakeSetsNoCookie(t *testing.T) {
	fake, h := newCallbackRouter(t, nil)
	forger, _ := clerktest.NewSigningKey(fake.Key().Kid)
	bad := clerktest.SignWith(forger, clerktest.Header{"alg": "RS256", "kid": forger.Kid}, clerktest.Claims{"handshake": []string{"__session=" + fake.Sign(fake.SessionClaims("user_1"))}})
	w := callback(h, "redirect_url=%2Fp", "__clerk_handshake="+bad)
	got := w.Header().Values("Set-Cookie")
	if w.Code != http.StatusTemporaryRedirect || len(got) != 1 || !strings.HasPrefix(got[0], "__clerk_handshake=; Path=/; Max-Age=0") {
		t.Fatalf("%d %q", w.Code, got)
	}
}

func TestCallbackRefusesOpenRedirects(t *testing.T) {
	_, h := newCallbackRouter(t, []string{"*.example.org"})
	for _, target := range []string{
		"//evil.com", "/\\evil.com", "https:evil.com", "https://app.example.test@evil.com/",
		"/%09/evil.com", "/%0a/evil.com", "javascript:alert(1)", "data:text/html,x",
		"https://evil-example.org/", "https://example.org.evil.com/", "https://app.example.test.evil/",
		"http://app.example.test/", "https://app.example.test:8443/", "https://evil.com/",
		"https://app.example.test/_auth/callback?redirect_url=/", "/_auth/callback",
	} {
		w := callback(h, "redirect_url="+url.QueryEscape(target))
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("%q: %d Location %q", target, w.Code, w.Header().Get("Location"))
		}
	}
	w := callback(h, "redirect_url="+url.QueryEscape("https://a.example.org/x"))
	if w.Code != http.StatusTemporaryRedirect {
		t.Fatalf("allow-listed host refused: %d", w.Code)
	}
}

func TestCallbackNeedsTheForwardedScheme(t *testing.T) {
	_, h := newCallbackRouter(t, nil)
	r := httptest.NewRequest("GET", "/_auth/callback?redirect_url=%2F", nil)
	r.Host = "app.example.test"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("%d without X-Forwarded-Proto", w.Code)
	}
	// X-Forwarded-Host wins over Host.
	r = httptest.NewRequest("GET", "/_auth/callback?redirect_url=%2Fp", nil)
	r.Host = "internal:8080"
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "app.example.test, proxy.internal")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("Location") != "https://app.example.test/p" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
	}
}
