package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
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
	if m == "CONNECT" || m == "TRACE" { // known-attacks T2: tunnels and echo are never authorised
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
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return "", errBad("original host has invalid characters")
		}
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return "", errBad("original host does not parse")
	}
	if host, port := u.Hostname(), u.Port(); strings.HasSuffix(host, ".") {
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

// originalURI validates a request-target in origin form ("/path?query").
func originalURI(uri string) (path, rawPath, rawQuery string, err error) {
	if uri == "" {
		return "", "", "", errBad("missing original URI")
	}
	if len(uri) > maxURILength {
		return "", "", "", errBad("original URI too long")
	}
	if uri[0] != '/' {
		return "", "", "", errBad("original URI must start with /")
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f || c == '#' {
			return "", "", "", errBad("original URI has a control character, space or fragment")
		}
	}
	u, perr := url.ParseRequestURI(uri)
	if perr != nil {
		return "", "", "", errBad("original URI does not parse")
	}
	return u.Path, u.RawPath, u.RawQuery, nil
}

// buildURL assembles the original absolute URL.
func buildURL(scheme, host, uri string) (*url.URL, error) {
	path, rawPath, rawQuery, err := originalURI(uri)
	if err != nil {
		return nil, err
	}
	// Policy matches the decoded path: refuse spellings (%2F, %2e%2e, //,
	// ;, \) that the upstream could read as another path.
	escaped, _, _ := strings.Cut(uri, "?")
	if _, err := authz.NormalizePath(escaped); err != nil {
		return nil, errBad(err.Error())
	}
	return &url.URL{Scheme: scheme, Host: host, Path: path, RawPath: rawPath, RawQuery: rawQuery}, nil
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

// clientIP is the right-most X-Forwarded-For entry (the one the proxy
// itself appended; entries to its left are the client's word) or the peer.
// It is for logs only: no decision depends on it.
func clientIP(r *http.Request) string {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		return strings.TrimSpace(last)
	}
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

func isBadRequest(err error) bool {
	var b *badRequest
	return errors.As(err, &b)
}
