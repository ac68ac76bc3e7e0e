package authz

import "testing"

func TestHostPatternMatchesExactHostsAndDotBoundedSubdomains(t *testing.T) {
	tests := []struct {
		name, pattern, host string
		want                bool
	}{
		{"exact host", "app.example.com", "app.example.com", true},
		{"exact pattern in upper case with a trailing dot", "App.Example.COM.", "app.example.com", true},
		{"exact pattern is not a suffix match", "example.com", "app.example.com", false},
		{"exact pattern does not cover a longer name", "app.example.com", "app.example.com.evil.com", false},
		{"wildcard covers one label", "*.example.com", "a.example.com", true},
		{"wildcard covers several labels", "*.example.com", "a.b.example.com", true},
		{"wildcard in upper case with a trailing dot", "*.EXAMPLE.com.", "a.example.com", true},
		{"wildcard does not cover the apex", "*.example.com", "example.com", false},
		{"wildcard needs a dot before the domain", "*.example.com", "evil-example.com", false},
		{"wildcard needs a label before the dot", "*.example.com", ".example.com", false},
		{"wildcard does not cover the domain inside another", "*.example.com", "example.com.evil.com", false},
		{"wildcard on a shorter host", "*.example.com", "com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseHostPattern(tt.pattern).matches(tt.host); got != tt.want {
				t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.host, got, tt.want)
			}
		})
	}
}

func TestCanonicalHostDropsPortCaseAndTrailingDot(t *testing.T) {
	tests := []struct{ in, want string }{
		{"app.example.com", "app.example.com"},
		{"App.Example.COM.", "app.example.com"},
		{"App.Example.com.:443", "app.example.com"},
		{"app.example.com:8443", "app.example.com"},
		{"[::1]:8080", "[::1]"},
		{"[::1]", "[::1]"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := canonicalHost(tt.in); got != tt.want {
			t.Errorf("canonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBothListsKeepTheirOwnHostRules: the shared pattern syntax leaves to
// each list what a valid host is: ALLOWED_REDIRECT_HOSTS takes ports and
// IP literals and refuses a wildcard over a single label; the policy file
// takes DNS names only.
func TestBothListsKeepTheirOwnHostRules(t *testing.T) {
	tests := []struct {
		host                 string
		redirectOK, policyOK bool
	}{
		{"app.example.com", true, true},
		{"*.example.com", true, true},
		{"APP.Example.com.", true, true},
		{"app.example.com:8443", true, false},
		{"[::1]:8080", true, false},
		{"*.com", false, true},
		{"*.", false, false},
		{"a.*.example.com", false, false},
		{"https://app.example.com", false, false},
		{"app.example.com/x", false, false},
	}
	for _, tt := range tests {
		_, err := ParseRedirectHosts([]string{tt.host})
		if got := err == nil; got != tt.redirectOK {
			t.Errorf("ParseRedirectHosts(%q): accepted %v, want %v (%v)", tt.host, got, tt.redirectOK, err)
		}
		_, err = parsePolicy([]byte("rules:\n  - host: \"" + tt.host + "\"\n    signed_in: true\n"))
		if got := err == nil; got != tt.policyOK {
			t.Errorf("policy host %q: accepted %v, want %v (%v)", tt.host, got, tt.policyOK, err)
		}
	}
}
