package clerk

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Cookie names Clerk's SDK reads (@clerk/backend constants.ts).
const (
	CookieSession        = "__session"
	CookieClientUAT      = "__client_uat"
	CookieRefresh        = "__refresh"
	CookieDevBrowser     = "__clerk_db_jwt"
	CookieHandshake      = "__clerk_handshake"
	CookieHandshakeNonce = "__clerk_handshake_nonce"
	CookieRedirectCount  = "__clerk_redirect_count"
)

// Cookies is a parsed Cookie header, read the way the npm "cookie" package
// as used by @clerk/backend reads it: pairs split on ";", names and values
// trimmed of spaces and tabs, values percent-decoded (a bad escape keeps the
// raw value), double quotes kept, and the first of duplicate names wins.
//
// Go's (*http.Request).Cookie strips quotes and skips invalid values, which
// would turn `__session="<jwt>"` into a valid token where Clerk sees an
// invalid one; hence our own reader.
type Cookies struct{ header string }

// ParseCookies wraps the Cookie header values (joined with "; " when a
// client sent several lines).
func ParseCookies(values []string) Cookies {
	return Cookies{header: strings.Join(values, "; ")}
}

// Get returns the first cookie named name.
func (c Cookies) Get(name string) (string, bool) {
	s := c.header
	for len(s) > 0 {
		var pair string
		pair, s, _ = strings.Cut(s, ";")
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		if trimSpaceTab(k) != name {
			continue
		}
		return decodeCookieValue(trimSpaceTab(v)), true
	}
	return "", false
}

// GetAll is Get for several names in one pass over the header: values[i]
// and found[i] become what Get(names[i]) returns. A browser's Cookie header
// carries the session token twice (~2 KiB) and a request reads six names,
// so one scan instead of six. values and found must be as long as names
// and start zero.
func (c Cookies) GetAll(names, values []string, found []bool) {
	left := len(names)
	s := c.header
	for len(s) > 0 && left > 0 {
		var pair string
		pair, s, _ = strings.Cut(s, ";")
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		k = trimSpaceTab(k)
		for i, name := range names {
			if !found[i] && k == name {
				values[i], found[i] = decodeCookieValue(trimSpaceTab(v)), true
				left--
			}
		}
	}
}

// Value returns the first cookie named name, or "".
func (c Cookies) Value(name string) string {
	v, _ := c.Get(name)
	return v
}

// trimSpaceTab trims spaces and tabs (a loop: strings.Trim builds its
// cutset on every call, and this runs for every pair of every lookup).
func trimSpaceTab(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func decodeCookieValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	d, err := url.PathUnescape(v)
	if err != nil || !utf8.ValidString(d) {
		return v // decodeURIComponent throws; the cookie package keeps the raw value
	}
	return d
}
