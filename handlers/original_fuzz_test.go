package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// checkOriginal is what every reader promises when it returns no error:
// an absolute http(s) URL with a valid lower-case host, no userinfo or
// fragment, a path starting with "/", and a URL that reads back the same.
func checkOriginal(t *testing.T, read func(*http.Request) (*authz.Request, error), r *http.Request) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic on %+v: %v", r.Header, p)
		}
	}()
	req, err := read(r)
	if err != nil {
		if !isBadRequest(err) {
			t.Fatalf("error is not a 400: %v", err)
		}
		return
	}
	u := req.URL
	if u == nil {
		t.Fatal("no URL and no error")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Fatalf("scheme %q", u.Scheme)
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		t.Fatalf("userinfo, fragment or opaque in %q", u)
	}
	if u.Host == "" || u.Hostname() == "" || u.Host != strings.ToLower(u.Host) {
		t.Fatalf("host %q", u.Host)
	}
	if h, err := originalHost(u.Host); err != nil || h != u.Host {
		t.Fatalf("host %q does not re-validate: %q %v", u.Host, h, err)
	}
	if !strings.HasPrefix(u.Path, "/") {
		t.Fatalf("path %q does not start with /", u.Path)
	}
	back, err := url.Parse(u.String())
	if err != nil || back.Scheme != u.Scheme || back.Host != u.Host || back.Path != u.Path || back.RawQuery != u.RawQuery {
		t.Fatalf("%q does not read back: %+v %v", u.String(), back, err)
	}
	if req.Method == "" {
		t.Fatal("empty method")
	}
}

func FuzzReadForwardAuth(f *testing.F) {
	f.Add("GET", "https", "app.example.com", "/dashboard?x=1")
	f.Add("GET", "wss", "APP.example.com.:443", "/%2e%2e/admin")
	f.Add("get", "https", "app.example.com", "/")
	f.Add("GET", "https", "a.example, b.example", "//evil.example/%2F..;/x")
	f.Add("GET", "ftp", "[::1]:8080", "/")
	f.Add("POST", "http", "user@evil", "/a#frag")
	f.Add("GET", "https", "app.example.com", "/\\evil.com")
	f.Add("GET", "https", "app.example.com", "/%c0%af")
	f.Fuzz(func(t *testing.T, method, proto, host, uri string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/forward-auth"}, RequestURI: "/forward-auth", Host: "auth:8080", Header: http.Header{}, RemoteAddr: "10.0.0.1:1234"}
		r.Header["X-Forwarded-Method"] = []string{method}
		r.Header["X-Forwarded-Proto"] = []string{proto}
		r.Header["X-Forwarded-Host"] = []string{host}
		r.Header["X-Forwarded-Uri"] = []string{uri}
		checkOriginal(t, readForwardAuth, r)
	})
}

func FuzzReadAuthRequest(f *testing.F) {
	f.Add("GET", "https://app.example.com/x?y=1", "", "", "", "auth")
	f.Add("GET", "", "/x?y=1", "https", "app.example.com", "auth")
	f.Add("GET", "", "/x", "https", "", "App.Example.com")
	f.Add("GET", "https://user@evil/x", "", "", "", "auth")
	f.Add("GET", "HTTPS://app.example.com?q", "", "", "", "auth")
	f.Add("GET", "javascript://app/x", "", "", "", "auth")
	f.Add("GET", "https://app.example.com", "", "", "", "auth")
	f.Add("GET", "https:///x", "", "", "", "auth")
	f.Add("GET", "", "x", "http", "h", "")
	f.Fuzz(func(t *testing.T, method, full, uri, proto, fhost, host string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/auth-request"}, RequestURI: "/auth-request", Host: host, Header: http.Header{}, RemoteAddr: "10.0.0.1:1234"}
		r.Header["X-Original-Method"] = []string{method}
		for k, v := range map[string]string{"X-Original-Url": full, "X-Original-Uri": uri, "X-Forwarded-Proto": proto, "X-Forwarded-Host": fhost} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		checkOriginal(t, readAuthRequest, r)
	})
}

func FuzzReadExtAuthz(f *testing.F) {
	f.Add("GET", "app.example.com", "https", "/ext-authz/x?y=1")
	f.Add("GET", "app.example.com", "https", "/ext-authz")
	f.Add("GET", "app.example.com", "https", "/ext-authz?x")
	f.Add("GET", "app.example.com", "https", "/ext-authzfoo")
	f.Add("GET", "app.example.com", "https", "/ext-authz//evil.example")
	f.Add("GET", "app.example.com", "https", "*")
	f.Add("CONNECT", "app.example.com:443", "https", "app.example.com:443")
	f.Add("GET", "[::1]", "http", "/ext-authz/%c0%af")
	f.Fuzz(func(t *testing.T, method, host, proto, requestURI string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: "/ext-authz"}, RequestURI: requestURI, Host: host, Header: http.Header{}, RemoteAddr: "10.0.0.1:1234"}
		r.Header["X-Forwarded-Proto"] = []string{proto}
		checkOriginal(t, readExtAuthz, r)
	})
}

// isBadRequest reports a reader's refusal (a 400), as opposed to any
// other error.
func isBadRequest(err error) bool {
	var b *badRequest
	return errors.As(err, &b)
}
