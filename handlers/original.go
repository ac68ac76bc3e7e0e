package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// The proxy headers the readers look up, in canonical form (header()
// looks them up without canonicalising; a test checks the spelling).
const (
	headerForwardedMethod = "X-Forwarded-Method"
	headerForwardedProto  = "X-Forwarded-Proto"
	headerForwardedHost   = "X-Forwarded-Host"
	headerForwardedURI    = "X-Forwarded-Uri"
	headerForwardedFor    = "X-Forwarded-For"
	headerOriginalMethod  = "X-Original-Method"
	headerOriginalURL     = "X-Original-Url"
	headerOriginalURI     = "X-Original-Uri"
)

// badRequest is a proxy request we cannot read: 400, never a guess.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func errBad(msg string) error { return &badRequest{msg: msg} }

// maxURILength bounds the original request URI we accept.
const maxURILength = 8 << 10

// originalMethod validates a method token: upper-case letters only (what
// browsers and proxies send); anything else is refused.
func originalMethod(m string) (string, error) {
	if m == "" {
		return "", errBad("missing original method")
	}
	if len(m) > 16 {
		return "", errBad("original method too long")
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return "", errBad("original method is not an upper-case token")
		}
	}
	if m == "CONNECT" || m == "TRACE" { // docs/known-attacks.md T2: tunnels and echo are never authorised
		return "", errBad("original method " + m + " is refused")
	}
	return m, nil
}

// originalScheme maps the forwarded proto to http or https. Traefik reports
// WebSocket upgrades as ws/wss.
func originalScheme(p string) (string, error) {
	switch strings.ToLower(p) {
	case "https", "wss":
		return "https", nil
	case "http", "ws":
		return "http", nil
	case "":
		return "", errBad("missing original scheme (X-Forwarded-Proto)")
	}
	return "", errBad("original scheme is not http or https")
}

// originalHost validates and canonicalises host[:port]: lower case, no
// trailing dot, only the characters a DNS name, IPv4 or bracketed IPv6
// literal may hold.
func originalHost(h string) (string, error) {
	if h == "" {
		return "", errBad("missing original host")
	}
	if len(h) > 255 {
		return "", errBad("original host too long")
	}
	h = strings.ToLower(h)
	nameOnly := true // no port, no IPv6 literal
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == ':' || c == '[' || c == ']' {
			nameOnly = false
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", errBad("original host has invalid characters")
		}
	}
	host, port := h, ""
	if !nameOnly {
		// A name of [a-z0-9.-] alone is its own URL host: only a port or
		// an IPv6 literal needs url.Parse's checks (and costs its copy).
		u, err := url.Parse("http://" + h)
		if err != nil || u.Host != h || u.Hostname() == "" {
			return "", errBad("original host does not parse")
		}
		host, port = u.Hostname(), u.Port()
	}
	if strings.HasSuffix(host, ".") {
		h = strings.TrimSuffix(host, ".")
		if h == "" || strings.HasSuffix(h, ".") { // "." or "a..": nothing left to name a host
			return "", errBad("original host is empty or ends in dots")
		}
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		if port != "" {
			h += ":" + port
		}
	}
	return h, nil
}

// originalURI validates a request-target in origin form ("/path?query")
// and reads it into u's Path, RawPath and RawQuery.
func originalURI(uri string, u *url.URL) error {
	if uri == "" {
		return errBad("missing original URI")
	}
	if len(uri) > maxURILength {
		return errBad("original URI too long")
	}
	if uri[0] != '/' {
		return errBad("original URI must start with /")
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f || c == '#' {
			return errBad("original URI has a control character, space or fragment")
		}
	}
	if path, query, _ := strings.Cut(uri, "?"); plainPath(path) {
		// What url.ParseRequestURI returns for it, without its allocation:
		// nothing to unescape, nothing it would escape back (RawPath empty).
		u.Path, u.RawPath, u.RawQuery = path, "", query
		return nil
	}
	p, err := url.ParseRequestURI(uri)
	if err != nil {
		return errBad("original URI does not parse")
	}
	u.Path, u.RawPath, u.RawQuery = p.Path, p.RawPath, p.RawQuery
	return nil
}

// plainPath reports whether every byte of an escaped path is one that
// net/url neither unescapes nor escapes in a path: letters, digits and
// -_.~$&+,/:;=@.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !plainPathByte[p[i]] {
			return false
		}
	}
	return true
}

var plainPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// buildURL assembles the original absolute URL.
func buildURL(scheme, host, uri string) (*url.URL, error) {
	u := new(url.URL)
	if err := buildURLInto(u, scheme, host, uri); err != nil {
		return nil, err
	}
	return u, nil
}

// buildURLInto is buildURL into a URL the caller allocated.
func buildURLInto(u *url.URL, scheme, host, uri string) error {
	*u = url.URL{Scheme: scheme, Host: host}
	if err := originalURI(uri, u); err != nil {
		return err
	}
	// Policy matches the decoded path: refuse spellings (%2F, %2e%2e, //,
	// ;, \) that the upstream could read as another path.
	escaped, _, _ := strings.Cut(uri, "?")
	if _, err := authz.NormalizePath(escaped); err != nil {
		return errBad(err.Error())
	}
	return nil
}

// originalRequest holds a request and its URL in one allocation.
type originalRequest struct {
	req authz.Request
	url url.URL
}

// parseAbsoluteURL reads X-Original-URL: an absolute http(s) URL.
func parseAbsoluteURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errBad("missing X-Original-URL")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, errBad("X-Original-URL is not absolute")
	}
	sch, err := originalScheme(scheme)
	if err != nil || (strings.ToLower(scheme) != "http" && strings.ToLower(scheme) != "https") {
		return nil, errBad("X-Original-URL scheme is not http or https")
	}
	hostPart, uri := rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostPart, uri = rest[:i], rest[i:]
		if uri[0] == '?' {
			uri = "/" + uri
		}
	}
	if strings.Contains(hostPart, "@") {
		return nil, errBad("X-Original-URL carries userinfo")
	}
	host, err := originalHost(hostPart)
	if err != nil {
		return nil, err
	}
	return buildURL(sch, host, uri)
}

// clientIP is, for logs only (no decision depends on it), the right-most
// X-Forwarded-For entry: the one the proxy itself appended; entries to its
// left are the client's word. Without the header it is peer: the address
// the proxy connected from (HTTP), or the downstream peer Envoy reports
// (gRPC).
func clientIP(h http.Header, peer string) string {
	if xff := h[headerForwardedFor]; len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		return strings.TrimSpace(last)
	}
	return peer
}

// remoteHost is an http.Request's RemoteAddr without its port.
func remoteHost(remoteAddr string) string {
	if i := strings.LastIndexByte(remoteAddr, ':'); i > 0 {
		return strings.Trim(remoteAddr[:i], "[]")
	}
	return remoteAddr
}
