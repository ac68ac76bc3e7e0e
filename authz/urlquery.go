package authz

import (
	"net/url"
	"slices"
	"strings"
)

// queryPairs is a query string read and written the way a browser's
// URLSearchParams (which the SDK uses to build redirects) reads and writes
// it: pairs in order, "+" as a space, invalid escapes kept as they are,
// and written back in application/x-www-form-urlencoded form. Go's
// url.Values would sort the keys and escape "*" and "~" differently.
type queryPairs [][2]string

func parseQueryLikeJS(raw string) queryPairs {
	var q queryPairs
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		q = append(q, [2]string{formUnescape(k), formUnescape(v)})
	}
	return q
}

func (q queryPairs) get(k string) string {
	for _, p := range q {
		if p[0] == k {
			return p[1]
		}
	}
	return ""
}

// set is URLSearchParams.set: the first pair named k takes v and the other
// pairs of that name go; without one, the pair is appended.
func (q queryPairs) set(k, v string) queryPairs {
	out, found := q[:0], false
	for _, p := range q {
		if p[0] != k {
			out = append(out, p)
		} else if !found {
			out, found = append(out, [2]string{k, v}), true
		}
	}
	if !found {
		out = append(out, [2]string{k, v})
	}
	return out
}

func (q queryPairs) add(k, v string) queryPairs { return append(q, [2]string{k, v}) }

// without is URLSearchParams.delete of each name.
func (q queryPairs) without(names ...string) queryPairs {
	out := q[:0]
	for _, p := range q {
		if !slices.Contains(names, p[0]) {
			out = append(out, p)
		}
	}
	return out
}

func (q queryPairs) encode() string {
	var b strings.Builder
	for i, p := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(formEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(formEscape(p[1]))
	}
	return b.String()
}

// formEscape is the URL standard's form-urlencoded byte serializer:
// ASCII letters, digits and *-._ stay, a space is "+", every other byte
// is %XX.
func formEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// formUnescape decodes "+" and valid %XX escapes and keeps the rest.
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && redirectUnhex(s[i+1]) >= 0 && redirectUnhex(s[i+2]) >= 0:
			hi, lo := redirectUnhex(s[i+1]), redirectUnhex(s[i+2]) // each 0–15
			b = append(b, byte(hi<<4|lo))                          //nolint:gosec // two hex digits fit a byte
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// withQuery returns u with its query rewritten by edit, as the SDK's
// "new URL(u); u.searchParams.…" does; a URL that does not parse is
// returned as it is.
func withQuery(raw string, edit func(queryPairs) queryPairs) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = edit(parseQueryLikeJS(u.RawQuery)).encode()
	u.ForceQuery = false
	return u.String()
}

// appendQueryParam is URLSearchParams.append on an absolute URL.
func appendQueryParam(raw, k, v string) string {
	return withQuery(raw, func(q queryPairs) queryPairs { return q.add(k, v) })
}

// webPathname is the URL standard's pathname, which the SDK matches: the
// path as sent, with only the bytes of the standard's path percent-encode
// set escaped. Go's EscapedPath escapes more ("|" and "^" too) once a path
// holds a byte that needs escaping, and parameters would read differently.
func webPathname(u *url.URL) string {
	p := u.RawPath // the path as sent when it differs from Go's own escaping
	if p == "" {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/" // an http(s) URL's pathname is never empty
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>`{}#?", c) >= 0 {
			if b.Len() == 0 {
				b.Grow(len(p) + 8)
				b.WriteString(p[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return p
	}
	return b.String()
}

// webHref is an http(s) URL as the SDK's URL object writes it (href): the
// WHATWG origin (host lower-cased, default port dropped), webPathname, and
// the query as received. Redirects the SDK builds from the request's URL
// are compared byte for byte with ours.
func webHref(u *url.URL) string {
	h := webOrigin(u) + webPathname(u)
	if u.RawQuery != "" {
		h += "?" + u.RawQuery
	}
	return h
}
