package authz

import "strings"

// hostPattern is a host an operator names in ALLOWED_REDIRECT_HOSTS or in
// the policy file's host: key. The rules both share:
//   - "app.example.com" matches that host exactly;
//   - "*.example.com" matches every dot-bounded subdomain of example.com
//     ("a.example.com", "a.b.example.com"), never the apex itself,
//     "evil-example.com" or "example.com.evil.com";
//   - case does not matter and one trailing dot is dropped, on both the
//     pattern and the host it is compared with (canonicalHostName).
//
// Which host names are valid, and whether a port may follow, is each
// list's own rule: its parser checks domain after parseHostPattern.
type hostPattern struct {
	domain   string // lower case, no trailing dot; for a wildcard, what follows "*."
	wildcard bool
}

// parseHostPattern reads a pattern's shared syntax: s lower-cased, a
// leading "*." made the wildcard, one trailing dot dropped. A caller whose
// entries may carry a port hands the part before it.
func parseHostPattern(s string) hostPattern {
	domain, wildcard := strings.CutPrefix(strings.ToLower(s), "*.")
	return hostPattern{domain: strings.TrimSuffix(domain, "."), wildcard: wildcard}
}

// matches reports whether host, already canonical (canonicalHostName),
// is the pattern's host or, for a wildcard, one of its subdomains.
func (p hostPattern) matches(host string) bool {
	if !p.wildcard {
		return host == p.domain
	}
	// The byte before the domain must be a dot and must not be the first:
	// "x.example.com" matches, ".example.com" and "xexample.com" do not.
	n := len(host) - len(p.domain)
	return n >= 2 && host[n-1] == '.' && host[n:] == p.domain
}

// canonicalHostName is a host name as patterns hold it: lower case, one
// trailing dot dropped, so "App.Example.COM." is "app.example.com".
func canonicalHostName(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// canonicalHost is canonicalHostName of a Host header's value, after
// dropping its port ("App.Example.com.:443" is "app.example.com"); an IPv6
// literal keeps its brackets.
func canonicalHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return canonicalHostName(h)
}
