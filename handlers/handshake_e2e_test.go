package handlers_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
)

// loop is a browser (net/http with a cookie jar), an in-test reverse proxy
// that asks the service the way Traefik, Envoy or NGINX does, the service
// (handlers.NewRouter), and a fake Clerk whose Frontend API answers the
// handshake. On 127.0.0.1 the jar shares cookies across ports, as a
// browser shares the app's eTLD+1 cookies with Clerk's FAPI subdomain.
type loop struct {
	t       *testing.T
	fake    *clerktest.Server
	service *httptest.Server
	proxy   *httptest.Server
	jar     *cookiejar.Jar
	mode    string // forward-auth | ext-authz | auth-request
}

func newLoop(t *testing.T, mode string, production bool) *loop {
	return newLoopWithKeys(t, mode, production, nil)
}

// newLoopWithKeys: the service takes its keys from keys (another instance
// = mismatched keys) instead of the fake whose FAPI it talks to.
func newLoopWithKeys(t *testing.T, mode string, production bool, keys *clerktest.Server) *loop {
	t.Helper()
	env := authztest.New(t, authztest.Options{
		Fake:    clerktest.Options{Production: production},
		Backend: keys, // nil: the fake
		Setup: func(e *authztest.Env, cfg *authz.Config, o *authz.Options) {
			// CLERK_PROXY_URL points the handshake at the fake's Frontend API.
			cfg.ProxyURL, o.HandshakePayloads = e.Fake.URL, e.API
		},
	})
	l := &loop{t: t, fake: env.Fake, mode: mode}
	l.service = httptest.NewServer(handlers.NewRouter(handlers.Options{Engine: env.Engine}))
	t.Cleanup(l.service.Close)
	l.proxy = httptest.NewServer(http.HandlerFunc(l.serveProxy))
	t.Cleanup(l.proxy.Close)
	l.jar, _ = cookiejar.New(nil)
	return l
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// serveProxy is the reverse proxy: ask the service, then serve the app on
// allow or pass the service's answer on, each proxy in its own way.
func (l *loop) serveProxy(w http.ResponseWriter, r *http.Request) {
	var sub *http.Request
	switch {
	case l.mode == "auth-request" && strings.HasPrefix(r.URL.Path, "/_auth/"):
		// NGINX: location /_auth/ { proxy_pass http://service; proxy_set_header
		// Host $host; proxy_set_header X-Forwarded-Proto $scheme; }
		sub, _ = http.NewRequest("GET", l.service.URL+r.RequestURI, nil)
		sub.Host = r.Host
		sub.Header.Set("X-Forwarded-Proto", "http")
		copyClientHeaders(sub, r)
		l.relay(w, sub, true)
		return
	case l.mode == "forward-auth":
		sub, _ = http.NewRequest("GET", l.service.URL+"/forward-auth", nil)
		copyClientHeaders(sub, r)
		sub.Header.Set("X-Forwarded-Method", r.Method)
		sub.Header.Set("X-Forwarded-Proto", "http")
		sub.Header.Set("X-Forwarded-Host", r.Host)
		sub.Header.Set("X-Forwarded-Uri", r.RequestURI)
	case l.mode == "ext-authz":
		sub, _ = http.NewRequest(r.Method, l.service.URL+"/ext-authz"+r.RequestURI, nil)
		sub.Host = r.Host
		copyClientHeaders(sub, r)
		sub.Header.Set("X-Forwarded-Proto", "http")
	case l.mode == "auth-request":
		sub, _ = http.NewRequest("GET", l.service.URL+"/auth-request", nil)
		copyClientHeaders(sub, r)
		sub.Header.Set("X-Original-URL", "http://"+r.Host+r.RequestURI)
		sub.Header.Set("X-Original-Method", r.Method)
	}
	resp, err := noFollow.Do(sub)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	allowed := resp.StatusCode/100 == 2
	if l.mode == "ext-authz" {
		allowed = resp.StatusCode == http.StatusOK
	}
	if allowed {
		_, _ = io.WriteString(w, "app: user="+resp.Header.Get(handlers.HeaderUserID))
		return
	}
	if l.mode == "auth-request" {
		// error_page 401 =302 $loc; add_header Set-Cookie $auth_cookie
		// always: NGINX keeps one Set-Cookie and turns 3xx into 500.
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("Location") != "" {
			if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
				w.Header().Set("Set-Cookie", c[0])
			}
			http.Redirect(w, r, resp.Header.Get("Location"), http.StatusFound)
			return
		}
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			resp.StatusCode = 500
		}
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// relay passes the service's answer on verbatim.
func (l *loop) relay(w http.ResponseWriter, sub *http.Request, _ bool) {
	resp, err := noFollow.Do(sub)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func copyClientHeaders(dst, src *http.Request) {
	for _, h := range []string{"Cookie", "Accept", "Sec-Fetch-Dest", "Referer", "Authorization"} {
		if v := src.Header.Values(h); len(v) > 0 {
			dst.Header[h] = v
		}
	}
}

// hop is one redirect the browser followed.
type hop struct {
	status     int
	location   string
	setCookies []string
}

// navigate is a top-level navigation: it follows redirects like a browser
// and returns each hop and the final answer.
func (l *loop) navigate(path string) ([]hop, int, string) {
	l.t.Helper()
	var hops []hop
	client := &http.Client{Jar: l.jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		r := req.Response
		hops = append(hops, hop{status: r.StatusCode, location: r.Header.Get("Location"), setCookies: r.Header.Values("Set-Cookie")})
		if len(via) > 10 || req.URL.Hostname() != "127.0.0.1" {
			return http.ErrUseLastResponse // stop at sign-in, off this machine
		}
		return nil
	}}
	req, _ := http.NewRequest("GET", l.proxy.URL+path, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Sec-Fetch-Dest", "document")
	resp, err := client.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return hops, resp.StatusCode, string(body)
}

func (l *loop) setCookie(name, value string) {
	u, _ := url.Parse(l.proxy.URL)
	l.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// staleBrowser signs the browser in at the fake FAPI and leaves an expired
// session cookie for the app: the state every handshake starts from.
func (l *loop) staleBrowser(userID string) (credential, stale string) {
	cred := l.fake.SignInBrowser(userID)
	u, _ := url.Parse(l.proxy.URL)
	l.jar.SetCookies(u, []*http.Cookie{cred})
	now := time.Now().Unix()
	c := l.fake.SessionClaims(userID)
	c["iat"], c["nbf"], c["exp"] = now-600, now-600, now-540
	stale = l.fake.Sign(c)
	l.setCookie("__session", stale)
	l.setCookie("__client_uat", strconv.FormatInt(now-700, 10))
	return cred.Value, stale
}

func TestBrowserLoopThroughEveryEndpoint(t *testing.T) {
	for _, mode := range []string{"forward-auth", "ext-authz", "auth-request"} {
		for _, production := range []bool{true, false} {
			for _, format := range []clerktest.HandshakeFormat{clerktest.HandshakeToken, clerktest.HandshakeNonce} {
				name := mode + "/production=" + strconv.FormatBool(production) + "/nonce=" + strconv.FormatBool(format == clerktest.HandshakeNonce)
				t.Run(name, func(t *testing.T) {
					l := newLoop(t, mode, production)
					l.fake.SetHandshakeFormat(format)
					cred, stale := l.staleBrowser("user_e2e")
					hops, status, body := l.navigate("/dashboard?tab=2")
					if status != 200 || body != "app: user=user_e2e" {
						t.Fatalf("final %d %q after %d hops %+v", status, body, len(hops), hops)
					}
					if len(hops) != 3 {
						t.Fatalf("%d hops: %+v", len(hops), hops)
					}
					original := l.proxy.URL + "/dashboard?tab=2"

					// 1. The service sends the browser to FAPI's handshake.
					first := hops[0]
					wantStatus := http.StatusTemporaryRedirect
					returnURL := original
					if mode == "auth-request" {
						wantStatus = http.StatusFound // NGINX error_page 401 =302
						returnURL = l.proxy.URL + "/_auth/callback?redirect_url=" + url.QueryEscape(original)
					}
					want := l.fake.URL + "/v1/client/handshake?redirect_url=" + url.QueryEscape(returnURL) +
						"&__clerk_api_version=" + clerk.APIVersion + "&suffixed_cookies=false" +
						"&__clerk_hs_reason=session-token-expired-refresh-non-eligible-no-refresh-cookie&format=nonce&__session=" + stale
					if !production {
						want += "&__clerk_db_jwt=" + cred
					}
					if first.status != wantStatus || first.location != want {
						t.Fatalf("handshake redirect %d\n got %s\nwant %s", first.status, first.location, want)
					}
					if len(first.setCookies) != 1 || first.setCookies[0] != "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2" {
						t.Fatalf("handshake cookies %q", first.setCookies)
					}
					// 2. FAPI answers back to the return URL.
					if hops[1].status != http.StatusTemporaryRedirect || !strings.HasPrefix(hops[1].location, returnURL) {
						t.Fatalf("FAPI hop %+v", hops[1])
					}
					// 3. Completion: a 307 to the original URL with every cookie.
					done := hops[2]
					if done.status != http.StatusTemporaryRedirect || done.location != original {
						t.Fatalf("completion %d → %s", done.status, done.location)
					}
					if !hasCookie(done.setCookies, "__session=ey") || !hasCookie(done.setCookies, "__client_uat=1") {
						t.Fatalf("completion cookies %q", done.setCookies)
					}
					if production && format == clerktest.HandshakeNonce && l.fake.Calls(clerktest.RouteHandshakePayload) != 1 {
						t.Fatalf("nonce redeemed %d times", l.fake.Calls(clerktest.RouteHandshakePayload))
					}

					// The next navigation goes straight through.
					hops, status, body = l.navigate("/other")
					if len(hops) != 0 || status != 200 || body != "app: user=user_e2e" {
						t.Fatalf("next request: %d %q hops %+v", status, body, hops)
					}
					if n := l.fake.Calls(clerktest.RouteHandshake); n != 1 {
						t.Fatalf("%d handshakes", n)
					}
				})
			}
		}
	}
}

func hasCookie(list []string, prefix string) bool {
	for _, c := range list {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func TestBrowserLoopSignedOutAtClerkEndsAtSignIn(t *testing.T) {
	for _, mode := range []string{"forward-auth", "ext-authz", "auth-request"} {
		t.Run(mode, func(t *testing.T) {
			l := newLoop(t, mode, true)
			cred, _ := l.staleBrowser("user_gone")
			l.fake.SignOutBrowser(cred)
			hops, status, _ := l.navigate("/private")
			// handshake → FAPI → completion (cookies cleared) → sign-in.
			if len(hops) < 4 {
				t.Fatalf("%d hops %+v", len(hops), hops)
			}
			last := hops[3]
			if !strings.HasPrefix(last.location, "https://accounts.example.test/sign-in?redirect_url="+url.QueryEscape(l.proxy.URL+"/private")) {
				t.Fatalf("sign-in hop %+v (final %d)", last, status)
			}
		})
	}
}

func TestBrowserLoopGuardStopsAfterThreeHandshakes(t *testing.T) {
	// The service's keys are another instance's: no handshake ever
	// verifies, so without the counter the browser would bounce forever.
	other, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l := newLoopWithKeys(t, "forward-auth", true, other)
	cred := l.fake.SignInBrowser("user_1")
	u, _ := url.Parse(l.proxy.URL)
	l.jar.SetCookies(u, []*http.Cookie{cred, {Name: "__client_uat", Value: strconv.FormatInt(time.Now().Unix(), 10), Path: "/"}})
	hops, status, _ := l.navigate("/")
	var handshakes []string
	for _, h := range hops {
		if strings.Contains(h.location, "/v1/client/handshake?") {
			handshakes = append(handshakes, strings.Join(h.setCookies, " | "))
		}
	}
	if len(handshakes) != 3 {
		t.Fatalf("%d handshakes: %+v", len(handshakes), hops)
	}
	for i, c := range handshakes {
		if !strings.Contains(c, "__clerk_redirect_count="+strconv.Itoa(i+1)+";") {
			t.Fatalf("handshake %d cookies %q", i+1, c)
		}
	}
	last := hops[len(hops)-1]
	if status != http.StatusTemporaryRedirect || !strings.HasPrefix(last.location, "https://accounts.example.test/sign-in?") || l.fake.Calls(clerktest.RouteHandshake) != 3 {
		t.Fatalf("after the loop: %d %+v", status, last)
	}
}
