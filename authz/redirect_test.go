package authz

import (
	"net/url"
	"testing"
)

func TestValidateRedirectAcceptsSameOriginAndAllowListedHosts(t *testing.T) {
	hosts, err := ParseRedirectHosts([]string{"*.example.org", " partner.example.net ", "local.test:8443", ""})
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := url.Parse("https://app.example.com/here?x=1")
	for target, want := range map[string]string{
		"/":                                "https://app.example.com/",
		"/dashboard?tab=2#top":             "https://app.example.com/dashboard?tab=2#top",
		"/%2f%2fevil.com":                  "https://app.example.com/%2f%2fevil.com", // a path on our host
		"https://app.example.com/a?b=c":    "https://app.example.com/a?b=c",
		"https://APP.example.com:443/a":    "https://APP.example.com:443/a",
		"https://app.example.com./a":       "https://app.example.com./a",
		"https://a.example.org/":           "https://a.example.org/",
		"http://deep.a.example.org/x":      "http://deep.a.example.org/x",
		"https://partner.example.net/p":    "https://partner.example.net/p",
		"https://local.test:8443/":         "https://local.test:8443/",
		"HTTPS://app.example.com/CaseKept": "https://app.example.com/CaseKept",
	} {
		u, err := validateRedirect(target, origin, hosts)
		if err != nil {
			t.Errorf("%q refused: %v", target, err)
			continue
		}
		if u.String() != want {
			t.Errorf("%q → %q, want %q", target, u.String(), want)
		}
	}
}

// docs/known-attacks.md O8, O9, K3, K5, A4: every vector is refused.
func TestValidateRedirectRefusesOpenRedirectVectors(t *testing.T) {
	hosts, _ := ParseRedirectHosts([]string{"*.example.org", "partner.example.net", "local.test:8443"})
	origin, _ := url.Parse("https://app.example.com/here")
	for _, target := range []string{
		"",
		"//evil.com",
		"//evil.com/path",
		"///evil.com",
		"/\\evil.com",
		"\\\\evil.com",
		"\\/evil.com",
		"/%5cevil.com",
		"/%5Cevil.com",
		"/%09/evil.com",
		"/%0a/evil.com",
		"/%0D/evil.com",
		"/%20/evil.com",
		"/%00/evil.com",
		"/\t/evil.com",
		"/ /evil.com",
		"/\n/evil.com",
		"https:evil.com",
		"https:/evil.com",
		"https:///evil.com",
		"https:\\\\evil.com",
		"evil.com",
		"evil.com/path",
		"javascript:alert(1)",
		"JaVaScRiPt:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox",
		"ftp://app.example.com/",
		"https://app.example.com@evil.com/",
		"https://user:pw@app.example.com/",
		"https://evil.com\\@app.example.com/",
		"https://evil.com%40app.example.com/",
		"https://evil.com#@app.example.com/",
		"https://evil.com?@app.example.com/",
		"https://app.example.com.evil.com/", // K5: a string prefix
		"https://app.example.comevil.com/",
		"http://app.example.com/",      // scheme differs
		"https://app.example.com:8443", // port differs
		"https://evil-example.org/",    // O9: not dot-bounded
		"https://example.org.evil.com/",
		"https://example.org/", // the wildcard leaves the apex out
		"https://a.example.org:444/",
		"https://partner.example.net:8443/",
		"https://local.test/",
		"https://аpp.example.com/", // Cyrillic a
		"https://app.example.com/\x7f",
		"https://evil.com/",
	} {
		if u, err := validateRedirect(target, origin, hosts); err == nil {
			t.Errorf("%q accepted as %q", target, u)
		}
	}
}

func TestParseRedirectHostsRefusesMalformedEntries(t *testing.T) {
	for _, bad := range []string{"*", "*.", "*.com", "https://app.example.com", "app.example.com/path", "*.*.example.com", "exa mple.com", "a@b.com", "app.example.com:", "%65vil.com"} {
		if _, err := ParseRedirectHosts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseRedirectHosts([]string{"app.example.com", "*.example.com", "app.example.com:8443", "[::1]:8080", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
}
