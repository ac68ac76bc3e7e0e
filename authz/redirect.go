package authz

import (
	"errors"
	"net/url"
	"strings"
)

// Redirect-target validation (docs/known-attacks.md O8, O9, K3, K5, A4, X3). A
// target is accepted when it is a path on the original request's origin, or
// an absolute http(s) URL whose parsed scheme, host and port equal the
// origin's, or whose host is on the ALLOWED_REDIRECT_HOSTS list. Anything
// ambiguous is refused rather than repaired: browsers read "/\evil",
// "/%09/evil" or "https:evil" differently from Go's parser, and that gap is
// what every open-redirect advisory above exploited.

// RedirectHosts is the parsed ALLOWED_REDIRECT_HOSTS list.
type RedirectHosts struct {
	entries []hostEntry
}

type hostEntry struct {
	pattern hostPattern
	port    string // "" = the scheme's default port
}

// ParseRedirectHosts reads ALLOWED_REDIRECT_HOSTS entries: a hostPattern,
// exact ("app.example.com") or wildcard ("*.example.com"), optionally
// followed by a port ("app.example.com:8443"). An entry without a port
// matches only the scheme's default port. The host may be a DNS name or an
// IP literal ("[::1]:8080"); a wildcard must name a domain with a dot in
// it, so "*.com" is refused as too broad.
func ParseRedirectHosts(list []string) (RedirectHosts, error) {
	var rh RedirectHosts
	for _, raw := range list {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		p := parseHostPattern(s)
		// The pattern's domain still carries any port: url.Parse splits
		// it off and refuses paths, userinfo and bad ports.
		u, err := url.Parse("http://" + p.domain)
		if err != nil || u.Host != p.domain || u.Hostname() == "" || u.User != nil || strings.HasSuffix(p.domain, ":") || strings.ContainsAny(p.domain, "*/\\@?#% ") || !validHostChars(u.Hostname()) {
			return RedirectHosts{}, errors.New("invalid host " + quote(raw) + ": use app.example.com, app.example.com:8443 or *.example.com")
		}
		if p.wildcard && !strings.Contains(u.Hostname(), ".") {
			return RedirectHosts{}, errors.New("wildcard " + quote(raw) + " is too broad: name a registrable domain such as *.example.com")
		}
		p.domain = canonicalHostName(u.Hostname())
		rh.entries = append(rh.entries, hostEntry{pattern: p, port: u.Port()})
	}
	return rh, nil
}

func quote(s string) string { return "\"" + s + "\"" }

// allows reports whether the allow-list covers u's host and port.
func (rh RedirectHosts) allows(u *url.URL) bool {
	host, port := canonicalHostPort(u)
	for _, e := range rh.entries {
		want := e.port
		if want == "" {
			want = defaultPort(u.Scheme)
		}
		if port != want {
			continue
		}
		if e.pattern.matches(host) {
			return true
		}
	}
	return false
}

// errRedirect is the one error every refused target gets; the detail goes
// to logs through the wrapped message.
type redirectError struct{ why string }

func (e *redirectError) Error() string { return "redirect target refused: " + e.why }

func refuse(why string) error { return &redirectError{why: why} }

// ValidateRedirect parses and checks a redirect target against origin (the
// original request's URL: scheme and host). A path is resolved against the
// origin. It returns the absolute URL to redirect to.
func (e *Engine) ValidateRedirect(target string, origin *url.URL) (*url.URL, error) {
	return validateRedirect(target, origin, e.redirects)
}

func validateRedirect(target string, origin *url.URL, allowed RedirectHosts) (*url.URL, error) {
	if target == "" {
		return nil, refuse("empty")
	}
	if len(target) > maxRedirectLength {
		return nil, refuse("too long")
	}
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return nil, refuse("control character, space, backslash or non-ASCII byte")
		}
	}
	if hasEncodedTrap(target) {
		return nil, refuse("encoded control character, whitespace or backslash")
	}
	if strings.HasPrefix(target, "/") {
		if strings.HasPrefix(target, "//") {
			return nil, refuse("protocol-relative URL")
		}
		ref, err := url.Parse(target)
		if err != nil || ref.Scheme != "" || ref.Host != "" || ref.User != nil {
			return nil, refuse("path does not parse")
		}
		u := *origin
		u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment = ref.Path, ref.RawPath, ref.RawQuery, ref.Fragment, ref.RawFragment
		u.User = nil
		return &u, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, refuse("does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, refuse("scheme is not http or https")
	}
	// "https:evil" parses as an opaque URL; "https:/evil" and "https:///evil"
	// have no host; browsers turn all of them into https://evil.
	if u.Opaque != "" || u.Host == "" || !strings.HasPrefix(target[len(u.Scheme):], "://") || strings.HasPrefix(target[len(u.Scheme)+3:], "/") {
		return nil, refuse("not an absolute URL with a host")
	}
	authority := target[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if u.User != nil || strings.Contains(authority, "@") {
		return nil, refuse("userinfo in URL")
	}
	if !validHostChars(u.Hostname()) {
		return nil, refuse("invalid host")
	}
	if sameOrigin(u, origin) || allowed.allows(u) {
		return u, nil
	}
	return nil, refuse("host " + quote(u.Host) + " is neither the request's nor in ALLOWED_REDIRECT_HOSTS")
}

// maxRedirectLength bounds redirect targets (a URL in a query parameter).
const maxRedirectLength = 8 << 10

// hasEncodedTrap finds %00–%20, %7f and %5c (backslash) in any case: once
// decoded by a browser or a second server they become the raw tricks above.
func hasEncodedTrap(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		hi, lo := redirectUnhex(s[i+1]), redirectUnhex(s[i+2])
		if hi < 0 || lo < 0 {
			continue
		}
		b := hi<<4 | lo
		if b <= 0x20 || b == 0x7f || b == '\\' {
			return true
		}
	}
	return false
}

func redirectUnhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// validHostChars accepts a DNS name, IPv4 address or IPv6 literal (without
// brackets): ASCII letters, digits, '-', '.', ':'. IDNs must arrive in
// punycode; percent-encoded hosts are refused.
func validHostChars(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// sameOrigin compares parsed scheme, host and port exactly (default ports
// made explicit, host lower case, trailing dot dropped): never a string
// prefix (K5).
func sameOrigin(a, b *url.URL) bool {
	if !strings.EqualFold(a.Scheme, b.Scheme) {
		return false
	}
	ah, ap := canonicalHostPort(a)
	bh, bp := canonicalHostPort(b)
	return ah == bh && ap == bp
}

func canonicalHostPort(u *url.URL) (string, string) {
	host := canonicalHostName(u.Hostname())
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return host, port
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "https") {
		return "443"
	}
	return "80"
}
