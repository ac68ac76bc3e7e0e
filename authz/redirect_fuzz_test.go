package authz

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateRedirect: any target either is refused or yields an absolute
// http(s) URL on the request's origin or on the allow-list, whose
// serialised form (the Location we send) starts with exactly that scheme
// and host, carries no userinfo, backslash, control byte or space, and
// reads back to the same host.
func FuzzValidateRedirect(f *testing.F) {
	allowed, err := ParseRedirectHosts([]string{"*.example.com", "partner.test:8443"})
	if err != nil {
		f.Fatal(err)
	}
	origin := &url.URL{Scheme: "https", Host: "app.example.test", Path: "/_auth/callback"}
	for _, s := range []string{
		"/", "/dashboard?x=1#y", "https://app.example.test/x", "https://a.example.com/x", "https://partner.test:8443/",
		"//evil.com", "/\\evil.com", "\\\\evil.com", "/%09/evil.com", "/%5cevil.com", "javascript:alert(1)", "data:text/html,x",
		"https://app.example.test@evil.com/", "https://evil.com#@app.example.test", "https:evil.com", "https:/evil.com",
		"https:///evil.com", "https://evil-example.com", "https://example.com.evil.com", "https://example.com", "https://app.example.test.evil",
		"HTTPS://APP.EXAMPLE.TEST/", "https://app.example.test:443/", "https://app.example.test:8443/", "http://app.example.test/",
		"https://[::1]/", "https://a.example.com%2eevil.com/", "/x?next=//evil.com", "https://xn--exmple-cua.com/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := validateRedirect(target, origin, allowed)
		if err != nil {
			if u != nil {
				t.Fatal("URL with an error")
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%q: scheme %q", target, u.Scheme)
		}
		if u.User != nil || u.Opaque != "" || u.Host == "" {
			t.Fatalf("%q: userinfo, opaque or no host: %#v", target, u)
		}
		if !sameOrigin(u, origin) && !allowed.allows(u) {
			t.Fatalf("%q: host %q is neither the origin nor allowed", target, u.Host)
		}
		loc := u.String()
		prefix := u.Scheme + "://" + u.Host
		if !strings.HasPrefix(loc, prefix) {
			t.Fatalf("%q: Location %q does not start with %q", target, loc, prefix)
		}
		if rest := loc[len(prefix):]; rest != "" && !strings.ContainsAny(rest[:1], "/?#") {
			t.Fatalf("%q: Location %q continues the host", target, loc)
		}
		// A path starting with "//" is fine here: the Location is absolute,
		// so the browser stays on this host.
		if strings.ContainsAny(loc, "\\ \t\r\n") {
			t.Fatalf("%q: Location %q has a backslash or white space", target, loc)
		}
		back, err := url.Parse(loc)
		if err != nil || !strings.EqualFold(back.Host, u.Host) || back.User != nil {
			t.Fatalf("%q: Location %q reads back as %#v (%v)", target, loc, back, err)
		}
	})
}
